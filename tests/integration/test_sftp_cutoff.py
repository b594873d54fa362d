"""A connection cut from another thread: paramiko's blocked read fails and its thread
returns, however long its own timeouts are; the admin's connection test is cut so too."""

import socket
import threading
import time

import pytest

from infra.sftp.cutoff import ConnectionCut, Cutoff
from infra.sftp.session import SftpError, SftpTarget, connect
from services.admin.servers import probing
from services.admin.servers.probing import probe
from tests.tarpit import Tarpit


def _connect_in_thread(port: int, cutoff: Cutoff) -> tuple[threading.Thread, list[Exception]]:
    raised: list[Exception] = []
    target = SftpTarget("127.0.0.1", port, "nobody", password="x", trust_on_first_use=True)

    def run() -> None:
        try:
            connect(target, connect_timeout=120, io_timeout=120, cutoff=cutoff)
        except Exception as exc:  # handed to the test
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


@pytest.mark.parametrize("drip_seconds", [None, 0.5], ids=["silent", "dripping"])
def test_a_cut_ends_a_connect_stalled_in_the_banner(drip_seconds: float | None) -> None:
    with Tarpit(drip_seconds=drip_seconds) as pit:
        cutoff = Cutoff()
        thread, raised = _connect_in_thread(pit.port, cutoff)
        end = time.monotonic() + 10
        while not pit.received and time.monotonic() < end:  # the client's banner: connected
            thread.join(0.05)
        assert pit.accepted == 1 and thread.is_alive()  # waiting for a banner that never ends

        cutoff.cut()
        thread.join(10)

        assert not thread.is_alive()
        [error] = raised
        assert isinstance(error, SftpError) and "SSH handshake" in str(error)
        end = time.monotonic() + 10
        while pit.open and time.monotonic() < end:
            thread.join(0.05)
        assert pit.open == 0  # and the socket was closed by its owner


def test_a_socket_attached_after_the_cut_is_refused() -> None:
    cutoff = Cutoff()
    cutoff.cut()
    left, right = socket.socketpair()
    with left, right, pytest.raises(ConnectionCut):
        cutoff.attach(left)
    assert cutoff.is_cut


def test_a_connection_test_against_a_dripping_partner_ends_at_its_deadline() -> None:
    with Tarpit(drip_seconds=0.5) as pit:
        target = SftpTarget("127.0.0.1", pit.port, "nobody", password="x",
                            trust_on_first_use=True)
        result = probe(target, remote_dir=".", pattern="*", recursive=False, deadline_s=1)
    assert not result.ok
    assert result.error is not None and result.error.startswith(
        "the test's deadline of 1 s passed, so its connection was cut: SSH handshake with"
        f" 127.0.0.1:{pit.port} failed")
    assert result.seconds < probing.CONNECT_TIMEOUT_S  # the banner timeout did not end it
