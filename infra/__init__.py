"""Adapters shared by the Intake services, one module per capability."""
