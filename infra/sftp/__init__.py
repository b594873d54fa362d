"""SFTP with paramiko: ``session`` (connecting, host keys, errors, walking a tree),
``channel`` (a faster channel), ``reads`` (file reads), ``listing`` (directory listings)
and ``pool`` (reused sessions)."""
