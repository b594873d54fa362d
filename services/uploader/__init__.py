"""Uploader: streams spooled files into object storage and verifies them there."""
