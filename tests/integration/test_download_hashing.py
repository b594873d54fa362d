"""A download's sha256 and md5 against a real sshd, hashed on the writer thread (small
files) or by the hashing child (large ones), fresh and resumed from a partial copy."""

import hashlib
import threading
import uuid
from pathlib import Path

import pytest

from infra.sftp.session import connect
from infra.spool.paths import Spool
from infra.transfer_progress import Meter
from services.downloader import downloading
from tests.harness import cached_bytes, make_inbox, sftp_target, write_random

SIZE = 6 * 1024 * 1024 + 123


@pytest.mark.parametrize("in_child", [False, True], ids=["writer-thread", "child-process"])
@pytest.mark.parametrize("resumed_from", [0, 2 * 1024 * 1024 + 7])
def test_a_download_is_hashed_whole(sftp_server, tmp_path: Path, monkeypatch, in_child: bool,
                                    resumed_from: int) -> None:
    monkeypatch.setattr(downloading, "CHILD_MIN_BYTES", 1 if in_child else SIZE + 1)
    remote, local = make_inbox(sftp_server, f"hash-{uuid.uuid4().hex[:8]}")
    source = local / "f.bin"
    write_random(source, SIZE)
    data = source.read_bytes()
    if resumed_from:  # what an earlier attempt left in the spool
        Spool(tmp_path).partial("f").write_bytes(data[:resumed_from])
    meter = Meter()
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        result = downloading.fetch(
            session.client, f"{remote}/f.bin", spool=Spool(tmp_path), file_id="f", size=SIZE,
            mtime=int(source.stat().st_mtime), window=1024 * 1024,
            read_size=session.read_size, abort=threading.Event(), meter=meter)
    assert result.resumed_from == resumed_from
    assert meter.read() == (SIZE, SIZE - resumed_from)  # done, and moved by this copy
    assert (result.sha256, result.md5) == (hashlib.sha256(data).hexdigest(),
                                           hashlib.md5(data).hexdigest())
    assert (tmp_path / "f").read_bytes() == data


def test_a_large_download_does_not_stay_in_the_page_cache(sftp_server, tmp_path: Path) -> None:
    size = 128 * 1024 * 1024 + 123  # over CHILD_MIN_BYTES: hashed by the child, which trails
    assert size >= downloading.CHILD_MIN_BYTES
    remote, local = make_inbox(sftp_server, f"cache-{uuid.uuid4().hex[:8]}")
    source = local / "f.bin"
    digest = write_random(source, size)
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        result = downloading.fetch(
            session.client, f"{remote}/f.bin", spool=Spool(tmp_path), file_id="f", size=size,
            mtime=int(source.stat().st_mtime), window=1024 * 1024,
            read_size=session.read_size, abort=threading.Event(),
            meter=Meter())
    source.unlink()
    assert result.sha256 == digest
    # The child releases each 16 MiB window it hashed once it is two windows further on:
    # the last ones stay (32 MiB and the tail here), and any not yet written back then.
    cached = cached_bytes(result.path)
    print(f"spool copy cached after the download: {cached / 2**20:.0f} MiB of {size / 2**20:.0f}")
    assert cached < size // 2
