"""Checks of the SSH keys an operator enters: a partner's host key and our private key.

``cryptography`` reads the keys; these functions turn its refusals into sentences that say
what to fix, and keep only what infra.sftp can use.
"""

import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_ssh_private_key,
    load_ssh_public_key,
)

HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
# What infra.sftp can load (paramiko's Ed25519Key, ECDSAKey and RSAKey, without passphrase).
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (RSA|EC|OPENSSH) PRIVATE KEY-----\s+(.+?)\s+-----END \1 PRIVATE KEY-----",
    re.DOTALL,
)


def _loads_as(keytype: str, data: str) -> bool:
    try:
        load_ssh_public_key(f"{keytype} {data}".encode())
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def normalise_host_key(value: str) -> str:
    """Keep ``<keytype> <base64>`` and drop the comment, the form infra.sftp compares."""
    parts = value.split()
    if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES:
        raise ValueError(
            "must be '<keytype> <base64> [comment]' with keytype one of "
            + ", ".join(HOST_KEY_TYPES)
        )
    keytype, data = parts[0], parts[1]
    if _loads_as(keytype, data):
        return f"{keytype} {data}"
    # cryptography only says the header and the key differ: find which type the key is.
    embedded = next((other for other in HOST_KEY_TYPES if _loads_as(other, data)), None)
    if embedded is None:
        raise ValueError("key data is not a base64 SSH public key")
    raise ValueError(f"key data is a {embedded!r} key, not {keytype}")


def check_private_key(text: str) -> str:
    """The key block alone, newline-terminated, once it loads without a passphrase."""
    text = text.strip()
    match = _PRIVATE_KEY.fullmatch(text)
    if match is None:
        raise ValueError(
            "must be an OpenSSH or PEM (RSA or EC) private key, "
            "from '-----BEGIN ... PRIVATE KEY-----' to its END line"
        )
    openssh = match.group(1) == "OPENSSH"
    load = load_ssh_private_key if openssh else load_pem_private_key
    try:
        load(text.encode(), password=None)
    except TypeError:  # cryptography's answer to an encrypted key without a password
        raise ValueError("passphrase-protected keys are not supported") from None
    except (ValueError, UnsupportedAlgorithm):
        kind = "OpenSSH" if openssh else "PEM"
        raise ValueError(f"is not a readable {kind} private key") from None
    return text + "\n"
