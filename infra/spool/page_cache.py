"""Keeping a large spool file out of the page cache once its bytes have been used.

A file copied through the spool is written once and read once or twice (the hashing child,
the part uploads): its pages in the cache help nobody after that, and a 100 GiB file left
there would push out everything else (PostgreSQL's pages among them). On a virtual machine
that hands freed memory back to its host, every page the cache takes anew also costs a
fault into the hypervisor (measured in docs/performance.md, "The spool's pages").

``POSIX_FADV_DONTNEED`` drops a range's clean pages and starts writing back its dirty ones
(which stay until written): so a window just passed is advised once to start its writeback
and again ``lag`` windows later, written back by then, to drop it. Nothing depends on it for
correctness: a page dropped too early is read from the disk again.
"""

import os

WINDOW = 16 * 1024 * 1024


def release(fd: int, offset: int, length: int) -> None:
    """Drop ``length`` bytes from ``offset`` from the page cache (start writing them back
    if they are dirty)."""
    os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


class CacheTrail:
    """Follows one pass through a file (``advance`` to each new position) and releases the
    windows it leaves behind; at most ``lag + 1`` windows stay cached behind the pass."""

    def __init__(self, fd: int, *, window: int = WINDOW, lag: int = 2) -> None:
        self._fd = fd
        self._window = window
        self._lag = lag
        self._next = 0  # the first window not yet passed

    def advance(self, position: int) -> None:
        while (self._next + 1) * self._window <= position:
            release(self._fd, self._next * self._window, self._window)  # dirty: written back
            if (behind := self._next - self._lag) >= 0:
                release(self._fd, behind * self._window, self._window)  # clean by now: dropped
            self._next += 1
