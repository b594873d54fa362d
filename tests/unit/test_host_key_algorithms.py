"""Every key type an operator may pin names host-key algorithms paramiko negotiates."""

import socket

import paramiko
import pytest

from infra.sftp.session import host_key_algorithms
from services.admin.servers.ssh_keys import HOST_KEY_TYPES


@pytest.mark.parametrize("key_type", HOST_KEY_TYPES)
def test_a_pinnable_key_type_is_accepted_by_paramiko(key_type: str) -> None:
    with socket.socket() as sock:
        transport = paramiko.Transport(sock)
        try:
            # paramiko refuses a name it does not implement: ValueError("unknown cipher").
            transport.get_security_options().key_types = host_key_algorithms(key_type)
        finally:
            transport.close()


def test_an_rsa_key_is_negotiated_with_sha2_signatures_only() -> None:
    assert host_key_algorithms("ssh-rsa") == ("rsa-sha2-512", "rsa-sha2-256")
    assert host_key_algorithms("ssh-ed25519") == ("ssh-ed25519",)
