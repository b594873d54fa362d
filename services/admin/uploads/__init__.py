"""Operator uploads: a file sent through the API or the console into the pipeline."""
