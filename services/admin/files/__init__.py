"""Files: the newest-first listing, one file's journal, retries and download links."""
