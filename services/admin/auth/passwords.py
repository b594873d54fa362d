"""The console password hash: scrypt (RFC 7914) from the ``cryptography`` package.

A hash is one self-describing string, ``scrypt:<N>:<r>:<p>:<salt>:<key>`` (salt and key in
unpadded base64), so its cost can be raised later without breaking existing hashes. The
separator is ``:`` rather than the ``$`` of crypt(3) strings so that the value survives
unquoted in shell-sourced env files and Compose env files (which expand ``$``); a
``$``-separated string is read too.
scrypt is memory-hard: N=2**17, r=8 uses 128 MiB per check (OWASP's recommendation), which
makes every guess expensive on GPUs; the login page therefore verifies at most a couple of
passwords at a time.
"""

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

SCHEME = "scrypt"
DEFAULT_N = 2**17
DEFAULT_R = 8
DEFAULT_P = 1
MIN_N = 2**14  # weaker hashes are refused at startup
_SALT_BYTES = 16
_KEY_BYTES = 32


@dataclass(frozen=True)
class PasswordHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def __repr__(self) -> str:  # the derived key must not end up in a log line
        return f"PasswordHash(scrypt, n={self.n}, r={self.r}, p={self.p})"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R,
                  p: int = DEFAULT_P) -> str:
    salt = os.urandom(_SALT_BYTES)
    key = Scrypt(salt=salt, length=_KEY_BYTES, n=n, r=r, p=p).derive(password.encode())
    return f"{SCHEME}:{n}:{r}:{p}:{_b64(salt)}:{_b64(key)}"


def parse_hash(encoded: str) -> PasswordHash:
    """Read a hash string; ValueError says what is wrong without echoing it."""
    text = encoded.strip()
    parts = text.split(":" if ":" in text else "$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError(f"must look like {SCHEME}:N:r:p:salt:hash "
                         "(make one with: python -m services.admin.hash_password)")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error):
        raise ValueError("has a malformed number or base64 field") from None
    if n < MIN_N or n & (n - 1):
        raise ValueError(f"N must be a power of two of at least {MIN_N}")
    if not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("r must be within 1..32 and p within 1..16")
    if len(salt) < 8 or len(key) < 16:
        raise ValueError("salt or hash is too short")
    return PasswordHash(n, r, p, salt, key)


def verify_password(password: str, stored: PasswordHash) -> bool:
    """Constant-time check (``Scrypt.verify``); slow by design, so call it in a thread."""
    kdf = Scrypt(salt=stored.salt, length=len(stored.key), n=stored.n, r=stored.r, p=stored.p)
    try:
        kdf.verify(password.encode(), stored.key)
    except InvalidKey:
        return False
    return True
