"""ESAP facility type for Rosetta: import a software repository as a container and hand over its task page."""
