"""ESAP software source for the OSSR (the ESCAPE community on Zenodo)."""
