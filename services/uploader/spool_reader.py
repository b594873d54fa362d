"""Reading byte ranges of a spool file that the downloader may still be writing.

The downloader appends to the file's ``.part`` and renames it to its final name once the
copy is checked (``infra.spool.paths``). An open descriptor survives the rename, so a reader
opened on the ``.part`` keeps reading the same bytes. Bytes below the file's current size
never change (the downloader only appends), so a range that is there may be uploaded at
once. Each range read is released from the page cache (``infra.spool.page_cache``): a
reader that comes after reads it from the disk.
"""

import os
import threading
import time
from pathlib import Path
from types import TracebackType

from infra.failures import Reason
from infra.spool.page_cache import release

POLL_SECONDS = 0.02  # a stat of a local file: cheap, and well under the time a part takes to land


class SpoolNotGrowing(Exception):
    """The spool file stopped short of the bytes wanted (the download paused or stopped)."""

    reason = Reason.SPOOL


class StreamAbandoned(Exception):
    """The caller gave up on this file (its download went missing or failed)."""

    reason = Reason.SPOOL


class SpoolFile:
    def __init__(self, fd: int, *, abort: threading.Event, stall_seconds: float) -> None:
        self._fd = fd
        self._abort = abort
        self._stall_seconds = stall_seconds
        self.inode = os.fstat(fd).st_ino

    @classmethod
    def open(cls, names: tuple[Path, ...], *, abort: threading.Event,
             stall_seconds: float) -> "SpoolFile":
        """Open the first of ``names`` that exists (``.part``, then the complete copy, for
        a file still downloading), waiting up to ``stall_seconds`` for one to appear."""
        deadline = time.monotonic() + stall_seconds
        while True:
            for path in names:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                return cls(fd, abort=abort, stall_seconds=stall_seconds)
            cls._pause(abort, deadline, f"no spool copy appeared at {names[-1]}")

    @property
    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset``, waiting while the file is shorter than that and
        still grows."""
        if self._abort.is_set():  # checked before every part: a stop is prompt
            raise StreamAbandoned("the file's stream was abandoned")
        end = offset + length
        size = self.size
        deadline = time.monotonic() + self._stall_seconds
        while size < end:
            self._pause(self._abort, deadline,
                        f"spool file stopped at {size} bytes; {end} needed")
            grown = self.size
            if grown > size:
                size, deadline = grown, time.monotonic() + self._stall_seconds
        data = os.pread(self._fd, length, offset)
        while len(data) < length:  # a short read from a regular file: ask for the rest
            more = os.pread(self._fd, length - len(data), offset + len(data))
            if not more:
                raise SpoolNotGrowing(f"spool file shrank below {end} bytes")
            data += more
        release(self._fd, offset, length)
        return data

    @staticmethod
    def _pause(abort: threading.Event, deadline: float, stalled: str) -> None:
        if abort.is_set():
            raise StreamAbandoned("the file's stream was abandoned")
        if time.monotonic() >= deadline:
            raise SpoolNotGrowing(stalled)
        abort.wait(POLL_SECONDS)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> "SpoolFile":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
