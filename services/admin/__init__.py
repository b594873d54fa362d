"""Admin service: REST API and HTML pages over the servers, files and file_events tables."""
