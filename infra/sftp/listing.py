"""Listing a remote tree as a stream: ``walk`` yields the regular files under a directory,
``list_directory`` one directory's entries with a fixed number of READDIR requests in flight.

paramiko's ``listdir_iter`` sends 50 requests, reads the 50 answers, then sends 50 more
(the pipe runs dry between rounds) and decodes each entry's attributes into an object
through a dozen ``Message`` calls, most of a big listing's client CPU, while scans of big
directories are bound by the listing. This keeps ``depth`` requests in flight and takes the
four fields discovery uses straight from the packet with ``struct`` (docs/performance.md,
target 5). Its requests go through ``infra.sftp.wire``.
"""

import fnmatch
import logging
import posixpath
import re
import stat
import struct
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import NamedTuple

import paramiko

from infra.sftp import wire

log = logging.getLogger(__name__)

# Names that are still being written by most upload clients; never picked up.
DEFAULT_IGNORED = ("*.part", "*.tmp", "*.filepart", ".*")

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_TIMES = struct.Struct(">II")
# SFTP v3 attribute flags (draft-ietf-secsh-filexfer-02, 5)
_SIZE, _UIDGID, _PERMISSIONS, _ACMODTIME, _EXTENDED = 0x1, 0x2, 0x4, 0x8, 0x80000000


@dataclass(frozen=True)
class RemoteEntry:
    path: str
    size: int
    mtime: int


@dataclass
class Skipped:
    """How many entries ``walk`` passed over that the pattern matched but that are no
    regular file: symlinks (never followed), devices, sockets, pipes."""

    count: int = 0


def _matcher(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """One compiled regex for several shell patterns: a 100k-entry listing calls it per name."""
    if not patterns:
        return lambda name: None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def walk(
    client: paramiko.SFTPClient,
    root: str,
    *,
    pattern: str = "*",
    recursive: bool = False,
    ignored: tuple[str, ...] = DEFAULT_IGNORED,
    skipped: Skipped | None = None,
) -> Iterator[RemoteEntry]:
    """Yield regular files under ``root`` without holding a whole directory in memory;
    count in ``skipped`` the matching entries that are not (each logged at debug)."""
    is_ignored, is_wanted = _matcher(ignored), _matcher((pattern,))
    pending = [root]
    while pending:
        directory = pending.pop()
        for entry in list_directory(client, directory):
            name = entry.name
            if is_ignored(name):
                continue
            if stat.S_ISDIR(entry.mode):
                if recursive:
                    pending.append(posixpath.join(directory, name))
            elif not is_wanted(name):
                continue
            elif stat.S_ISREG(entry.mode):
                yield RemoteEntry(posixpath.join(directory, name), entry.size, entry.mtime)
            else:
                log.debug("skipping %s: not a regular file (%s)",
                          posixpath.join(directory, name), stat.filemode(entry.mode))
                if skipped is not None:
                    skipped.count += 1


class DirEntry(NamedTuple):
    name: str
    mode: int
    size: int
    mtime: int


def list_directory(client: paramiko.SFTPClient, path: str, *,
                   depth: int = 32) -> Iterator[DirEntry]:
    """Every entry of ``path`` but ``.`` and ``..``, in the server's order.

    Raises ``OSError`` for what the server refuses. An entry whose name is not UTF-8 is
    skipped with a warning: paramiko's listing raised, which failed the whole scan and so
    held back every other file of the server; such a name cannot be stored, or opened
    through paramiko, anyway. Abandoning the iterator leaves answers on the wire: close the
    session then.
    """
    handle = wire.open_directory(client, path)
    requests = wire.Requests(client)
    pending: deque[int] = deque(requests.read_directory(handle) for _ in range(depth))
    try:
        while pending:
            names = requests.names(pending.popleft())
            if names is None:
                break
            pending.append(requests.read_directory(handle))
            yield from _entries(names, path)
        for num in pending:  # each answers end of directory; the session stays usable
            requests.names(num)
    finally:
        with suppress(OSError, paramiko.SSHException):  # a dead session: nothing to free
            wire.close_handle(client, handle)


def _entries(packet: bytes, directory: str) -> Iterator[DirEntry]:
    """The entries of one SSH_FXP_NAME packet (after its request id)."""
    (count,) = _U32.unpack_from(packet, 0)
    at = 4
    for _ in range(count):
        (length,) = _U32.unpack_from(packet, at)
        raw = packet[at + 4:at + 4 + length]
        at += 4 + length
        (length,) = _U32.unpack_from(packet, at)  # the ls -l style long name: unused
        at += 4 + length
        (flags,) = _U32.unpack_from(packet, at)
        at += 4
        size = mode = mtime = 0
        if flags & _SIZE:
            (size,) = _U64.unpack_from(packet, at)
            at += 8
        if flags & _UIDGID:
            at += 8
        if flags & _PERMISSIONS:
            (mode,) = _U32.unpack_from(packet, at)
            at += 4
        if flags & _ACMODTIME:
            _, mtime = _TIMES.unpack_from(packet, at)
            at += 8
        if flags & _EXTENDED:
            (pairs,) = _U32.unpack_from(packet, at)
            at += 4
            for _ in range(2 * pairs):
                (length,) = _U32.unpack_from(packet, at)
                at += 4 + length
        try:
            name = raw.decode()
        except UnicodeDecodeError:
            log.warning("skipping %r in %s: the name is not UTF-8", raw, directory)
            continue
        if name not in (".", ".."):
            yield DirEntry(name, mode, size, mtime)

