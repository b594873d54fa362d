"""Downloader: streams claimed files from SFTP into the spool directory."""
