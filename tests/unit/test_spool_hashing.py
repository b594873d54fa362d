"""The hashing child follows a spool file as it grows, and never outlives a failed download."""

import hashlib
import os
from pathlib import Path

import pytest

from services.downloader.spool_hashing import SpoolHasher, SpoolHashError


def test_the_child_hashes_bytes_written_after_it_started(tmp_path: Path) -> None:
    path = tmp_path / "f.part"
    first, rest = os.urandom(3_000_000), os.urandom(5_000_001)
    path.write_bytes(first)
    with SpoolHasher(path, len(first) + len(rest)) as hasher:
        with path.open("ab") as out:
            out.write(rest)
        sha256, md5 = hasher.result(timeout=30)
    assert sha256 == hashlib.sha256(first + rest).hexdigest()
    assert md5 == hashlib.md5(first + rest).hexdigest()


def test_a_failed_download_stops_the_child(tmp_path: Path) -> None:
    path = tmp_path / "f.part"
    path.write_bytes(b"only a part")
    with pytest.raises(ConnectionError), SpoolHasher(path, 10_000) as hasher:
        raise ConnectionError("the download failed")
    assert hasher._child.returncode is not None  # killed and reaped, not left waiting


def test_a_child_that_fails_is_an_error(tmp_path: Path) -> None:
    with SpoolHasher(tmp_path / "missing.part", 10) as hasher, pytest.raises(SpoolHashError):
        hasher.result(timeout=30)
