"""ESAP plugin for Rucio: each configured Rucio instance is an archive of DIDs."""
