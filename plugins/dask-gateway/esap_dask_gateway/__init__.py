"""ESAP facility type for Dask Gateway: Dask clusters on their own or beside a notebook session."""
