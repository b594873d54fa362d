"""Writing and hashing a download on a thread of its own, beside the SFTP reads.

paramiko holds the GIL while it parses packets; hashlib and file writes release it. On the
reading thread, sha256 + md5 + write stall the reads; on their own thread they overlap
with them (measured in docs/performance.md, "The writer thread"). The queue between the
two holds at most ``depth`` batches, so memory stays bounded if the disk is the slow side.
A download that is one batch has nothing to overlap: it is written where it is read
(``threaded=False``), without starting a thread per small file.
"""

import hashlib
import queue
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import BinaryIO

_DONE = None


class HashingWriter:
    """Writes batches in order on its own thread (or the caller's), updating ``hashes``
    (none: only writes)."""

    def __init__(self, out: BinaryIO, *hashes: "hashlib._Hash", depth: int = 4,
                 threaded: bool = True) -> None:
        self._out = out
        self._hashes = hashes
        self._batches: queue.Queue[Sequence[bytes] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = (threading.Thread(target=self._drain, name="spool-writer", daemon=True)
                        if threaded else None)

    def __enter__(self) -> "HashingWriter":
        if self._thread is not None:
            self._thread.start()
        return self

    def write(self, pieces: Sequence[bytes]) -> None:
        """Queue ``pieces`` to be written in order; raises what the writer thread failed with
        (e.g. disk full). Pieces, joined on the writer thread, not on the reading one."""
        self._raise_failure()
        if self._thread is None:
            self._write(pieces)
        else:
            self._batches.put(pieces)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread is not None:
            self._batches.put(_DONE)
            self._thread.join()
        if kind is None:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        while (pieces := self._batches.get()) is not _DONE:
            if self._error is not None:
                continue  # keep taking batches so that the reader never blocks on a full queue
            try:
                self._write(pieces)
            except BaseException as exc:  # handed to the reading thread
                self._error = exc

    def _write(self, pieces: Sequence[bytes]) -> None:
        # One joined batch per write and per digest: every call releases and retakes the
        # GIL, so fewer, larger calls are faster (docs/performance.md, "The writer thread").
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._out.write(data)
        for digest in self._hashes:
            digest.update(data)
