"""ESAP facility type for any IVOA UWS 1.1 service: its jobs, phases, results and errors."""
