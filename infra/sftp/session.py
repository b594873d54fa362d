"""SFTP sessions: where to connect (``SftpTarget``), a connection that checks the host key
before any credential is sent, and the errors the stages act on.

paramiko is synchronous; callers run these functions in a worker thread.
"""

import errno
import io
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import paramiko

from infra.failures import Reason
from infra.sftp.channel import open_sftp, prefer_fast_ciphers

if TYPE_CHECKING:
    from infra.sftp.cutoff import Cutoff

_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)
# An RSA host key is pinned as its key files name it, "ssh-rsa", but that is also the name
# of the SHA-1 signature algorithm, which paramiko 5 no longer knows: an RSA server proves
# its key with SHA-2 signatures (RFC 8332), negotiated under these names.
_RSA_SHA2 = ("rsa-sha2-512", "rsa-sha2-256")


class SftpError(Exception):
    """Base of the errors this package raises. ``transient`` says whether a retry may help."""

    transient = True
    reason = Reason.SFTP


class PermanentSftpError(SftpError):
    """An error no retry cures: the server, its key, the credentials or the file must
    change first."""

    transient = False


class HostKeyMismatch(PermanentSftpError):
    """The server presented a key other than the pinned one: possible interception."""


class HostKeyUnknown(PermanentSftpError):
    """No key is pinned and trust-on-first-use is off for this server."""


class AuthenticationFailed(PermanentSftpError):
    """The server refused the password or key, or the key cannot be read."""


class RemoteFileGone(PermanentSftpError):
    """The file no longer exists on the server."""


class RemoteFileChanged(PermanentSftpError):
    """Size or mtime moved while we read: a new version is being written."""


class RemotePermissionDenied(PermanentSftpError):
    """The server refuses to let us read the file."""


@dataclass(frozen=True)
class SftpTarget:
    host: str
    port: int
    username: str
    password: str | None = None
    private_key: str | None = None
    host_key: str | None = None
    trust_on_first_use: bool = False

    def __repr__(self) -> str:  # never print credentials
        return f"SftpTarget({self.username}@{self.host}:{self.port})"


class SftpSession:
    """One authenticated transport with its SFTP channel.

    ``read_size`` is the largest read the server answers in full (32 KiB unless it
    announces more through OpenSSH's ``limits@openssh.com``).
    """

    def __init__(self, transport: paramiko.Transport, client: paramiko.SFTPClient,
                 host_key: str, read_size: int) -> None:
        self.transport = transport
        self.client = client
        self.host_key = host_key
        self.read_size = read_size

    def close(self) -> None:
        self.client.close()
        self.transport.close()

    def __enter__(self) -> "SftpSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def host_key_algorithms(key_type: str) -> tuple[str, ...]:
    """The host-key algorithms to negotiate for a key pinned as ``key_type``."""
    return _RSA_SHA2 if key_type == "ssh-rsa" else (key_type,)


def _load_private_key(text: str) -> paramiko.PKey:
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except paramiko.SSHException:
            continue
    raise AuthenticationFailed("private key is not a readable OpenSSH/PEM key")


def connect(target: SftpTarget, *, connect_timeout: float, io_timeout: float,
            cutoff: "Cutoff | None" = None) -> SftpSession:
    """Open a session, verifying the host key before any credential is sent.

    ``connect_timeout`` bounds each step (TCP connect, banner, key exchange), not their
    sum: a bound on the whole, and on the session's later reads, is ``cutoff``'s to enforce.
    """
    try:
        sock = socket.create_connection((target.host, target.port), timeout=connect_timeout)
    except OSError as exc:
        raise SftpError(f"cannot reach {target.host}:{target.port}: {exc}") from exc
    if cutoff is not None:
        try:
            cutoff.attach(sock)
        except SftpError:
            sock.close()
            raise
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = connect_timeout
        transport.handshake_timeout = connect_timeout
        if target.host_key:
            # Negotiate the pinned key type, or a server with several keys may offer another.
            transport.get_security_options().key_types = host_key_algorithms(
                target.host_key.split()[0])
        prefer_fast_ciphers(transport.get_security_options())
        transport.start_client(timeout=connect_timeout)
        key = transport.get_remote_server_key()
        presented = f"{key.get_name()} {key.get_base64()}"
        if target.host_key and target.host_key.split()[:2] != presented.split():
            raise HostKeyMismatch(
                f"host key of {target.host}:{target.port} changed: server presented "
                f"{key.get_name()} SHA256:{key.fingerprint.split(':', 1)[-1]}; "
                "approve the new key on the server's page if this change is expected"
            )
        if not target.host_key and not target.trust_on_first_use:
            raise HostKeyUnknown(
                f"no host key pinned for {target.host}:{target.port} (it presents "
                f"{key.get_name()} {key.fingerprint}); pin it or allow trust on first use"
            )
        try:
            if target.private_key:
                transport.auth_publickey(target.username, _load_private_key(target.private_key))
            else:
                transport.auth_password(target.username, target.password or "")
        except paramiko.AuthenticationException as exc:
            raise AuthenticationFailed(
                f"authentication as {target.username!r} on {target.host} failed"
            ) from exc
        client, read_size = open_sftp(transport)
        client.get_channel().settimeout(io_timeout)
        return SftpSession(transport, client, presented, read_size)
    except SftpError:
        transport.close()
        raise
    except (paramiko.SSHException, OSError, EOFError) as exc:
        transport.close()
        raise SftpError(f"SSH handshake with {target.host}:{target.port} failed: {exc}") from exc


def translate_io_error(exc: OSError, path: str) -> SftpError:
    """Map paramiko's IOError codes to the errors the stages act on."""
    if exc.errno == errno.ENOENT or isinstance(exc, FileNotFoundError):
        return RemoteFileGone(f"{path} no longer exists on the server")
    if exc.errno == errno.EACCES or isinstance(exc, PermissionError):
        return RemotePermissionDenied(f"permission denied reading {path}")
    return SftpError(f"reading {path} failed: {exc}")
