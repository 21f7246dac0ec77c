"""ESAP facility type for Slurm: notebooks and commands run as batch jobs through Slurm's REST API."""
