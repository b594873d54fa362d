"""Test a server's settings: connect as discovery would, verify the host key, list a little.

:func:`test_server` reads the stored settings and runs :func:`probe` in a worker thread
(paramiko is synchronous) with short timeouts, under a deadline that cuts the connection
(a partner that drips its banner trips no timeout), and with the server's listing caps.
The answer carries the exact error text of
what failed; infra.sftp's messages name the host and user but never a credential. When the
host key is not pinned or does not match, the key the server presents is fetched in a
separate handshake that never authenticates, so the operator can compare and pin it
without any credential having been sent.
"""

import asyncio
import errno
import itertools
import socket
import threading
import time
from dataclasses import dataclass, field, replace

import paramiko

from infra.crypto import SecretBox, SecretBoxError
from infra.postgres import Pool
from infra.server_access import ServerAccess
from infra.servers import fetch_server, target_from_row
from infra.sftp.cutoff import Cutoff
from infra.sftp.listing import RemoteEntry
from infra.sftp.listing import walk as sftp_walk
from infra.sftp.session import (
    HostKeyMismatch,
    HostKeyUnknown,
    SftpError,
    SftpTarget,
    host_key_algorithms,
)
from infra.sftp.session import connect as sftp_connect

MAX_ENTRIES = 20
CONNECT_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 15.0
DEADLINE_S = 30.0


@dataclass(frozen=True)
class Probe:
    ok: bool
    host_key: str | None
    host_key_pinned: bool
    entries: list[RemoteEntry] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def presented_host_key(host: str, port: int, *, key_type: str | None = None,
                       timeout: float = CONNECT_TIMEOUT_S,
                       cutoff: Cutoff | None = None) -> str | None:
    """The server's host key as ``<type> <base64>``, from a handshake without authentication."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
        if cutoff is not None:
            cutoff.attach(sock)
    except (OSError, SftpError):
        return None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        if key_type:
            transport.get_security_options().key_types = host_key_algorithms(key_type)
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    except (paramiko.SSHException, OSError, EOFError):
        return None
    finally:
        transport.close()


def _listing_error(remote_dir: str, exc: OSError) -> str:
    if exc.errno == errno.ENOENT or isinstance(exc, FileNotFoundError):
        return f"the directory {remote_dir!r} does not exist on the server"
    if exc.errno == errno.EACCES or isinstance(exc, PermissionError):
        return f"permission denied listing {remote_dir!r}"
    return f"listing {remote_dir!r} failed: {exc}"


def probe(target: SftpTarget, *, remote_dir: str, pattern: str, recursive: bool,
          max_entries: int | None = None, max_depth: int | None = None,
          deadline_s: float = DEADLINE_S) -> Probe:
    """Connect, list up to MAX_ENTRIES matching files, disconnect, within ``deadline_s``.
    Blocks: run in a thread."""
    cutoff = Cutoff()
    timer = threading.Timer(deadline_s, cutoff.cut)
    timer.start()
    try:
        result = _probe(target, cutoff, remote_dir=remote_dir, pattern=pattern,
                        recursive=recursive, max_entries=max_entries, max_depth=max_depth)
    finally:
        timer.cancel()
    if cutoff.is_cut and not result.ok:
        return replace(result, error=f"the test's deadline of {deadline_s:g} s passed, so its"
                                     f" connection was cut: {result.error}")
    return result


def _probe(target: SftpTarget, cutoff: Cutoff, *, remote_dir: str, pattern: str,
           recursive: bool, max_entries: int | None, max_depth: int | None) -> Probe:
    started = time.monotonic()
    pinned = bool(target.host_key)

    def answer(ok: bool, host_key: str | None, entries: list[RemoteEntry] | None = None,
               error: str | None = None) -> Probe:
        return Probe(ok, host_key, pinned, entries or [], error, time.monotonic() - started)

    try:
        session = sftp_connect(target, connect_timeout=CONNECT_TIMEOUT_S, io_timeout=IO_TIMEOUT_S,
                               cutoff=cutoff)
    except (HostKeyUnknown, HostKeyMismatch) as exc:
        mismatch = isinstance(exc, HostKeyMismatch) and target.host_key
        key_type = target.host_key.split()[0] if mismatch and target.host_key else None
        return answer(False, presented_host_key(target.host, target.port, key_type=key_type,
                                                cutoff=cutoff),
                      error=str(exc))
    except SftpError as exc:
        return answer(False, None, error=str(exc))
    with session:
        try:
            entries = list(itertools.islice(
                sftp_walk(session.client, remote_dir, pattern=pattern, recursive=recursive,
                          max_entries=max_entries, max_depth=max_depth),
                MAX_ENTRIES,
            ))
        except OSError as exc:
            return answer(False, session.host_key, error=_listing_error(remote_dir, exc))
        except (paramiko.SSHException, EOFError) as exc:
            return answer(False, session.host_key, error=f"listing {remote_dir!r} failed: {exc}")
        except SftpError as exc:  # a listing that does not parse
            return answer(False, session.host_key, error=str(exc))
    return answer(True, session.host_key, entries)


async def test_server(pool: Pool, box: SecretBox, server_id: int) -> Probe | None:
    """Probe the server with its stored settings; None when there is no such server."""
    row = await fetch_server(pool, server_id)
    if row is None:
        return None
    try:
        target = target_from_row(ServerAccess.from_row(row), box)
    except SecretBoxError:
        return Probe(False, None, bool(row["host_key"]), error=(
            "the stored password or key cannot be decrypted with this INTAKE_SECRET_KEY; "
            "enter the credentials again"))
    # In the default executor: bounded, and each probe gives up after its timeouts.
    return await asyncio.to_thread(
        probe, target, remote_dir=row["remote_dir"], pattern=row["pattern"],
        recursive=row["recursive"], max_entries=row["max_listing_entries"],
        max_depth=row["max_depth"],
    )
