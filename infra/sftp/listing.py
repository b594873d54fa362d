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
from dataclasses import dataclass, field
from typing import NamedTuple

import paramiko

from infra.sftp import wire
from infra.sftp.session import SftpError

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


# What a files row can hold: a bigint size, and a path the unique index takes (PostgreSQL's
# btree rows stop near 2,700 bytes; Linux's PATH_MAX is 4,096).
MAX_SIZE = 2**63 - 1
MAX_PATH_BYTES = 2048
REFUSALS_KEPT = 20


class MalformedListing(SftpError):
    """The server answered READDIR with a packet that does not parse."""


@dataclass
class Skipped:
    """What ``walk`` passed over: ``count`` entries the pattern matched that are no regular
    file (symlinks, never followed; devices, sockets, pipes), and ``refused``, entries no
    row can hold (a name with ``/`` or NUL, a path too long, a size past a bigint), the
    first :data:`REFUSALS_KEPT` as (escaped path, reason) and all of them in ``refusals``.

    And where its caps stopped it: ``stopped_at``, the entry cap once the walk stopped
    there (the listing is then incomplete); ``too_deep``, directories below the depth cap
    that were not listed, the first of them in ``first_too_deep``.
    """

    count: int = 0
    refusals: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    stopped_at: int | None = None
    too_deep: int = 0
    first_too_deep: str | None = None
    depth_cap: int | None = None

    def refuse(self, path: str, reason: str) -> None:
        self.refusals += 1
        if len(self.refused) < REFUSALS_KEPT:
            self.refused.append((ascii(path)[1:-1], reason))

    def leave_out(self, path: str, depth_cap: int) -> None:
        self.too_deep += 1
        self.depth_cap = depth_cap
        if self.first_too_deep is None:
            self.first_too_deep = ascii(path)[1:-1]

    @property
    def complete(self) -> bool:
        """Whether the walk read every directory it was to read (none cut short)."""
        return self.stopped_at is None

    def caps_reached(self) -> list[str]:
        """A sentence for each cap the walk stopped at, for the operator."""
        reached = []
        if self.stopped_at is not None:
            reached.append(f"the listing stopped at max_listing_entries = {self.stopped_at}"
                           " entries read: files past them were not seen")
        if self.too_deep:
            reached.append(f"{self.too_deep} director{'y' if self.too_deep == 1 else 'ies'}"
                           f" below max_depth = {self.depth_cap} not listed, the first"
                           f" {self.first_too_deep}")
        return reached


def refusal(directory: str, name: str, size: int) -> str | None:
    """Why an entry cannot become a files row, or None when it can."""
    if "/" in name or "\x00" in name:
        return "its name holds '/' or NUL"
    # A character is at most 4 bytes: most paths need no encoding to be known short enough.
    if ((len(directory) + 1 + len(name)) * 4 > MAX_PATH_BYTES
            and len(posixpath.join(directory, name).encode()) > MAX_PATH_BYTES):
        return f"its path is longer than {MAX_PATH_BYTES} bytes"
    if size > MAX_SIZE:
        return f"its size {size} is past {MAX_SIZE}"
    return None


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
    max_entries: int | None = None,
    max_depth: int | None = None,
) -> Iterator[RemoteEntry]:
    """Yield regular files under ``root`` without holding a whole directory in memory;
    count in ``skipped`` the matching entries that are not (each logged at debug), and the
    entries no row can hold (each logged as a warning, the rest of the listing goes on).

    A symlink is never followed, to a directory neither (READDIR gives each entry's own
    attributes, as lstat does), so no loop of links can make the walk endless. The walk
    stops after reading ``max_entries`` entries of any kind, and lists no directory more
    than ``max_depth`` levels below ``root``; ``skipped`` tells where it stopped.
    """
    is_ignored, is_wanted = _matcher(ignored), _matcher((pattern,))
    skipped = skipped if skipped is not None else Skipped()
    read = 0
    pending = [(root, 0)]
    while pending:
        directory, depth = pending.pop()
        for entry in list_directory(client, directory):
            if max_entries is not None and read >= max_entries:
                skipped.stopped_at = max_entries
                return
            read += 1
            name = entry.name
            if is_ignored(name):
                continue
            if (why := refusal(directory, name, entry.size)) is not None:
                path = posixpath.join(directory, name)
                log.warning("skipping %s: %s", ascii(path), why)
                skipped.refuse(path, why)
                continue
            if stat.S_ISDIR(entry.mode):
                if not recursive:
                    continue
                if max_depth is not None and depth >= max_depth:
                    skipped.leave_out(posixpath.join(directory, name), max_depth)
                else:
                    pending.append((posixpath.join(directory, name), depth + 1))
            elif not is_wanted(name):
                continue
            elif stat.S_ISREG(entry.mode):
                yield RemoteEntry(posixpath.join(directory, name), entry.size, entry.mtime)
            else:
                log.debug("skipping %s: not a regular file (%s)",
                          posixpath.join(directory, name), stat.filemode(entry.mode))
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
            try:
                entries = list(_entries(names, path))
            except (struct.error, IndexError) as exc:
                raise MalformedListing(
                    f"the server's listing of {path!a} does not parse ({exc})") from exc
            yield from entries
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

