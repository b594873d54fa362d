"""sha256 and md5 of a large download, computed by a child process that follows the spool
file while it is written.

The downloader's threads share one GIL, and reading SFTP is Python work that holds it most
of the time, so hashing on a thread of the same process gets little of the other core. A
child process hashes on its own while the download goes on, and reads what it hashes from
the page cache, a copy that costs little (measured in docs/performance.md, "Download
alone").
For a small file the process would cost more than it saves (``CHILD_MIN_BYTES``). Being the
one reader that follows the download closely, the child also releases the pages it has
hashed from the page cache (``infra.spool.page_cache``).

The child reads the file from its first byte, so a resumed download needs no separate pass
over what an earlier attempt wrote. Started as ``python -m services.downloader.spool_hashing
PATH SIZE``, it prints ``<sha256> <md5>`` once it has hashed SIZE bytes; it waits for the
file to grow as long as its parent lives, and the parent kills it when the download fails.
It runs in a process group of its own: a SIGTERM to the downloader's group (supervisord's
stop) lets the downloader finish its download gracefully, and the child its hashes.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from infra.failures import Reason
from infra.spool.page_cache import CacheTrail

CHILD_MIN_BYTES = 64 * 1024 * 1024
_READ = 4 * 1024 * 1024
_POLL_SECONDS = 0.01


class SpoolHashError(RuntimeError):
    """The hashing child failed (the attempt is retried)."""

    reason = Reason.SPOOL


class SpoolHasher:
    def __init__(self, path: Path, size: int) -> None:
        self._child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", __name__, str(path), str(size)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            process_group=0,
        )

    def result(self, timeout: float) -> tuple[str, str]:
        """(sha256, md5) once the child has hashed every byte; call after the last write."""
        try:
            out, err = self._child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise SpoolHashError(f"hashing the spool file took longer than {timeout}s") from exc
        if self._child.returncode != 0:
            why = err.decode(errors="replace").strip() or _ended(self._child.returncode)
            raise SpoolHashError(f"hashing the spool file failed: {why}")
        sha256, md5 = out.decode().split()
        return sha256, md5

    def __enter__(self) -> "SpoolHasher":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._child.returncode is None:  # the download failed: nobody needs the hashes
            self._child.kill()
            self._child.communicate()


def _ended(code: int) -> str:
    """How a child that said nothing ended: its exit status, or the signal that killed it."""
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def _follow(path: str, size: int, parent: int) -> int:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_RDONLY)
    buffer = memoryview(bytearray(_READ))  # one buffer: no allocation (and page faults) per read
    offset = 0
    trail = CacheTrail(fd)
    while offset < size:
        got = os.preadv(fd, [buffer[:min(_READ, size - offset)]], offset)
        if got:
            sha256.update(buffer[:got])
            md5.update(buffer[:got])
            offset += got
            trail.advance(offset)
        elif os.getppid() != parent:
            print(f"the downloader is gone; stopped at {offset} of {size} bytes",
                  file=sys.stderr)
            return 2
        else:
            time.sleep(_POLL_SECONDS)
    print(sha256.hexdigest(), md5.hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(_follow(sys.argv[1], int(sys.argv[2]), os.getppid()))
