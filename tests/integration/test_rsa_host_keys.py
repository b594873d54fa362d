"""A partner whose sshd has only an RSA host key. OpenSSH files name such a key ``ssh-rsa``,
which is what gets pinned, while the server signs with SHA-2 only (``rsa-sha2-*``): pinned,
trusted on first use and tested from the admin, the connection must work."""

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Litestar
from litestar.testing import TestClient

from infra.sftp.listing import walk
from infra.sftp.session import HostKeyMismatch, SftpTarget, connect
from tests.harness import make_inbox, sftp_target
from tests.integration.conftest import create_server
from tests.processes import free_port, wait_for
from tests.servers import SftpServer

SSHD = "/usr/sbin/sshd"


def _local_account(username: str) -> bool:
    try:
        pwd.getpwnam(username)
    except KeyError:
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def rsa_sftp_server(sftp_server: SftpServer,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpServer]:
    """A second sshd for the run's SFTP account (as scripts/sftp-server.sh starts one),
    offering nothing but an RSA host key."""
    if os.geteuid() != 0 or not Path(SSHD).exists() or not shutil.which("ssh-keygen") \
            or not _local_account(sftp_server.username):
        pytest.skip("needs root, OpenSSH's sshd and the run's SFTP account on this machine")
    state = tmp_path_factory.mktemp("rsa-sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "rsa-only",
                    "-f", str(state / "hostkey")], check=True)
    port = free_port()
    config = state / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {state}/hostkey
HostKeyAlgorithms rsa-sha2-512,rsa-sha2-256
PidFile {state}/sshd.pid
AllowUsers {sftp_server.username}
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
Subsystem sftp internal-sftp
""")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    subprocess.run([SSHD, "-f", str(config), "-E", str(state / "sshd.log")], check=True)
    try:
        wait_for(lambda: _listening(port), timeout=15, what=f"the RSA-only sshd on {port}")
        yield dataclasses.replace(sftp_server, port=port,
                                  host_key=(state / "hostkey.pub").read_text().strip())
    finally:
        pid_file = state / "sshd.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


@pytest.fixture
def folder(rsa_sftp_server: SftpServer) -> tuple[str, Path]:
    remote, local = make_inbox(rsa_sftp_server, f"rsa-{uuid.uuid4().hex[:8]}")
    (local / "report.csv").write_bytes(b"a,b\n1,2\n")
    (local / "report.csv").chmod(0o644)
    return remote, local


def _another_rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def _list_and_read(target: SftpTarget, remote: str) -> tuple[str, list[str], bytes]:
    with connect(target, connect_timeout=10, io_timeout=10) as session:
        paths = [entry.path for entry in walk(session.client, remote)]
        with session.client.open(f"{remote}/report.csv", "rb") as remote_file:
            data = remote_file.read()
        return session.host_key, paths, data


def test_a_pinned_rsa_key_connects(rsa_sftp_server: SftpServer,
                                   folder: tuple[str, Path]) -> None:
    remote, _ = folder
    assert rsa_sftp_server.host_key.startswith("ssh-rsa ")
    host_key, paths, data = _list_and_read(sftp_target(rsa_sftp_server), remote)
    assert host_key.split() == rsa_sftp_server.host_key.split()[:2]
    assert paths == [f"{remote}/report.csv"]
    assert data == b"a,b\n1,2\n"


def test_an_rsa_key_trusted_on_first_use_connects_again_once_pinned(
        rsa_sftp_server: SftpServer, folder: tuple[str, Path]) -> None:
    remote, _ = folder
    first_use = dataclasses.replace(sftp_target(rsa_sftp_server), host_key=None,
                                    trust_on_first_use=True)
    trusted, _, _ = _list_and_read(first_use, remote)
    assert trusted.startswith("ssh-rsa ")
    # What discovery records after a first use is what every later connection pins.
    pinned = dataclasses.replace(first_use, host_key=trusted, trust_on_first_use=False)
    again, paths, data = _list_and_read(pinned, remote)
    assert again == trusted
    assert (paths, data) == ([f"{remote}/report.csv"], b"a,b\n1,2\n")


def test_another_rsa_key_is_a_mismatch(rsa_sftp_server: SftpServer,
                                       folder: tuple[str, Path]) -> None:
    other = dataclasses.replace(sftp_target(rsa_sftp_server), host_key=_another_rsa_key())
    with pytest.raises(HostKeyMismatch):
        connect(other, connect_timeout=10, io_timeout=10)


def test_the_admin_tests_an_rsa_server(client: TestClient[Litestar],
                                       rsa_sftp_server: SftpServer,
                                       folder: tuple[str, Path]) -> None:
    remote, _ = folder
    body: dict[str, Any] = {
        "host": rsa_sftp_server.host, "port": rsa_sftp_server.port,
        "username": rsa_sftp_server.username, "password": rsa_sftp_server.password,
        "host_key": rsa_sftp_server.host_key, "remote_dir": remote, "enabled": False,
    }
    presented = rsa_sftp_server.host_key.split()[:2]

    def probe(**overrides: Any) -> dict[str, Any]:
        server = create_server(client, **{**body, **overrides})
        response = client.post(f"/api/servers/{server['id']}/test")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        assert result["host_key"].split() == presented, result
        return result

    pinned = probe()
    assert pinned["ok"] is True, pinned
    assert [entry["path"] for entry in pinned["entries"]] == [f"{remote}/report.csv"]
    assert probe(host_key=None, trust_on_first_use=True)["ok"] is True
    # The key it presents instead, fetched in a handshake of its own, asks for an RSA key too.
    changed = probe(host_key=_another_rsa_key())
    assert changed["ok"] is False
    assert changed["error"].startswith(f"host key of {rsa_sftp_server.host}:")
