"""The spool: the local volume where a file's copy waits between its download and its upload.

The downloader writes copies into it, the uploader reads them, the downloader's janitor
removes the ones no file needs. What they share lives here, one module
each: ``paths`` (the names of the copies), ``space`` (free space before a new copy),
``keep`` (which copies may go) and ``page_cache`` (keeping copies out of the page cache).
"""
