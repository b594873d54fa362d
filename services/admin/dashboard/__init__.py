"""The dashboard: what the pipeline is doing now, as numbers (``/api/stats``) and a page."""
