"""JSON API, one controller module per feature."""
