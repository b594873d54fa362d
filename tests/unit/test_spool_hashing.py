"""The hashing child follows a spool file as it grows, never outlives a failed download, and
is not stopped with its downloader's process group."""

import hashlib
import os
import signal
import subprocess
import sys
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


# A downloader stopping gracefully: SIGTERM goes to its whole process group (supervisord's
# stopasgroup), and it goes on to finish its download, then needs the child's hashes.
_STOPPING_DOWNLOADER = """
import signal, sys
from pathlib import Path
from services.downloader.spool_hashing import SpoolHasher

signal.signal(signal.SIGTERM, lambda *_: None)  # as uvicorn's: a child gets the default
path, rest = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes()
with SpoolHasher(path, path.stat().st_size + len(rest)) as hasher:
    print("hashing", flush=True)
    sys.stdin.readline()  # the group has had its SIGTERM
    with path.open("ab") as out:
        out.write(rest)
    print(*hasher.result(timeout=30))
"""


def test_a_stop_of_the_downloader_s_group_leaves_the_child_hashing(tmp_path: Path) -> None:
    path, rest = tmp_path / "f.part", tmp_path / "rest"
    first, second = os.urandom(2_000_000), os.urandom(3_000_001)
    path.write_bytes(first)
    rest.write_bytes(second)
    downloader = subprocess.Popen(
        [sys.executable, "-c", _STOPPING_DOWNLOADER, str(path), str(rest)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        assert downloader.stdout.readline() == "hashing\n"
        os.killpg(downloader.pid, signal.SIGTERM)
        out, err = downloader.communicate("go\n", timeout=60)
    finally:
        downloader.kill()
    assert downloader.returncode == 0, err
    assert out.split() == [hashlib.sha256(first + second).hexdigest(),
                           hashlib.md5(first + second).hexdigest()]
