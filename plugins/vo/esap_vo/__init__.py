"""ESAP archives for the Virtual Observatory (pyvo)."""
