"""ESAP facility type for JupyterHub: start a user's server through the hub's REST API and stage the data."""
