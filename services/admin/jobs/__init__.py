"""Processing jobs: start one on a stored object, a stored file or a local file; follow it."""
