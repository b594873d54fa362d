"""A pass through a large file leaves only its last few windows in the page cache."""

import os
from pathlib import Path

from infra.spool.page_cache import CacheTrail, release
from tests.harness import cached_bytes, write_random

MiB = 1024 * 1024


def _read_through(path: Path, trail_window: int | None) -> None:
    with path.open("rb") as file:
        trail = CacheTrail(file.fileno(), window=trail_window) if trail_window else None
        position = 0
        while chunk := os.pread(file.fileno(), MiB, position):
            position += len(chunk)
            if trail:
                trail.advance(position)


def test_a_read_leaves_only_the_windows_behind_it_cached(tmp_path: Path) -> None:
    path = tmp_path / "spooled"
    write_random(path, 24 * MiB + 5)
    with path.open("rb") as file:
        os.fsync(file.fileno())  # clean pages: released at once
        _read_through(path, None)
        assert cached_bytes(path) >= path.stat().st_size  # what a plain read leaves
        release(file.fileno(), 0, 0)
    assert cached_bytes(path) == 0

    _read_through(path, MiB)
    # Clean pages go when their window is passed: only the part of a window at the end stays
    # (dirty ones would stay up to lag + 1 windows).
    assert cached_bytes(path) <= os.sysconf("SC_PAGE_SIZE")

