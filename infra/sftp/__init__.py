"""SFTP with paramiko: ``session`` (the target, connecting with host-key checks, the
errors), ``listing`` (walking a tree, listing a directory), ``reads`` (reading a file),
``channel`` (a faster channel), ``pool`` (reused sessions) and ``wire`` (the only module
that uses paramiko's private API)."""
