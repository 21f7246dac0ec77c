"""ESAP publisher for Zenodo: a researcher's results, with their launch's RO-Crate, published with a DOI."""
