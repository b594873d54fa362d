"""Processor service: runs processing jobs (CSV column sums) on stored or local files."""
