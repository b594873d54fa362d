"""SFTP sessions against a real sshd: memory-bounded reads, the server's largest read, and
a close that brings the file's attributes back. (Sessions kept and capped per server:
test_session_slots.py.)"""

import random
import threading
import tracemalloc
import uuid

import pytest

from infra.sftp.reads import RemoteFile, read_range
from infra.sftp.session import connect
from infra.spool.paths import Spool
from infra.transfer_progress import Meter
from services.downloader.downloading import fetch
from tests.harness import make_inbox, sftp_target, write_random


def test_a_large_download_holds_a_bounded_amount_in_memory(sftp_server, tmp_path):
    remote, local = make_inbox(sftp_server, f"mem-{uuid.uuid4().hex[:8]}")
    size = 64 * 1024 * 1024
    digest = write_random(local / "big.bin", size)
    mtime = int((local / "big.bin").stat().st_mtime)
    window = 4 * 1024 * 1024
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        tracemalloc.start()
        try:
            result = fetch(session.client, f"{remote}/big.bin", spool=Spool(tmp_path),
                           file_id="f", size=size, mtime=mtime, window=window,
                           read_size=session.read_size, abort=threading.Event(),
                           meter=Meter())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.sha256 == digest
    # The read-ahead window plus a few chunks in flight, never the file (64 MiB).
    print(f"download peak traced memory {peak / 1e6:.1f} MB")
    assert peak < 4 * window, f"peak {peak / 1e6:.1f} MB"


def test_sessions_use_the_servers_largest_read(sftp_server):
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=10) as session:
        # OpenSSH announces 255 KiB through limits@openssh.com; paramiko's default is 32.
        assert session.read_size == 261_120
        assert session.transport.remote_cipher.startswith("aes128-gcm")


def test_ranged_reads_survive_short_answers_and_an_early_end(sftp_server):
    remote, local = make_inbox(sftp_server, f"range-{uuid.uuid4().hex[:8]}")
    data = random.Random(3).randbytes(3 * 1024 * 1024 + 17)
    (local / "f.bin").write_bytes(data)
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=10) as session, \
            session.client.open(f"{remote}/f.bin", "rb") as remote_file:
        handle = remote_file.handle
        # 1 MiB reads: the server answers 255 KiB of each, the rest is asked again.
        middle = b"".join(read_range(session.client, handle, 5, len(data) - 9,
                                     read_size=1024 * 1024, depth=3))
        # Past the end: stops where the file does, and the session stays usable.
        tail = b"".join(read_range(session.client, handle, len(data) - 100,
                                   len(data) + 10 * 261_120, read_size=261_120, depth=8))
        assert session.client.stat(f"{remote}/f.bin").st_size == len(data)
    assert middle == data[5:-9]
    assert tail == data[-100:]


def test_closing_a_remote_file_brings_back_what_the_file_is_after_the_reads(sftp_server):
    remote, local = make_inbox(sftp_server, f"close-{uuid.uuid4().hex[:8]}")
    write_random(local / "f.bin", 300_000)
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session, \
            RemoteFile(session.client, f"{remote}/f.bin") as remote_file:
        data = b"".join(read_range(session.client, remote_file.handle, 0, 300_000,
                                   read_size=session.read_size, depth=4))
        with (local / "f.bin").open("ab") as grown:  # changed after the reads were answered
            grown.write(b"more")
        remote_file.start_closing()
        attrs = remote_file.closed_attributes()
        assert data == (local / "f.bin").read_bytes()[:300_000]
        assert attrs.st_size == 300_004
        with pytest.raises(OSError):  # the handle is closed on the server
            list(read_range(session.client, remote_file.handle, 0, 10, read_size=10, depth=1))
        assert session.client.listdir(remote) == ["f.bin"]  # and the session is still usable


def test_a_remote_file_that_is_gone_is_an_os_error(sftp_server):
    remote, _ = make_inbox(sftp_server, f"gone-{uuid.uuid4().hex[:8]}")
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session, \
            pytest.raises(FileNotFoundError):
        RemoteFile(session.client, f"{remote}/missing.bin")
