"""The results log every worker appends to: one JSON line per finished job.

Several workers, on one host or sharing the file over a network filesystem, append to the
same file. Each line is written whole under an exclusive ``fcntl`` lock on the file (one
``write`` of the complete line to a descriptor opened with ``O_APPEND``, then ``fsync``),
so lines never interleave and none is torn, whatever the number of writers.
"""

import fcntl
import json
import os
from pathlib import Path
from typing import Any


def append(path: Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` as one line. Blocks while another writer holds the lock."""
    line = (json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            written = os.write(fd, line)
            if written != len(line):  # a full disk: the rest of the line would be lost
                raise OSError(f"wrote {written} of {len(line)} bytes to {path}")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
