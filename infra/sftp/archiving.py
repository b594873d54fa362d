"""A partner's copy of a stored file deleted, or moved into an archive directory, through
paramiko's public ``SFTPClient`` API. Blocking: callers run these in a thread.

A move never replaces a file: OpenSSH's plain SFTP rename refuses an existing target (the
``posix-rename`` extension would replace it, so it is not used), and a name already taken
in the archive gets a suffix first, ``report.csv`` becoming ``report-1.csv``.
"""

import errno
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import paramiko

from infra.sftp.session import SftpError

MAX_SUFFIX = 100


class RemoteActionError(SftpError):
    """The server refused the action on this file (permission, gone, a name taken): other
    files on the same session may still succeed."""


class Seen(NamedTuple):
    """The partner's file as it is now."""

    regular: bool
    size: int
    mtime: int


def _refused(exc: OSError, doing: str) -> RemoteActionError:
    if exc.errno == errno.ENOENT:
        return RemoteActionError(f"{doing}: no such file or directory")
    if exc.errno == errno.EACCES:
        return RemoteActionError(f"{doing}: permission denied")
    return RemoteActionError(f"{doing}: {exc.strerror or exc}")


def _session_lost(exc: OSError) -> bool:
    """A timeout or a closed connection is the session's failure, not the file's."""
    return isinstance(exc, TimeoutError | ConnectionError)


@contextmanager
def _refusals(doing: str) -> Iterator[None]:
    """The server's refusal as a RemoteActionError saying what was refused; a lost
    session's error as it is."""
    try:
        yield
    except OSError as exc:
        if _session_lost(exc):
            raise
        raise _refused(exc, doing) from exc


def look(client: paramiko.SFTPClient, path: str) -> Seen | None:
    """The file at ``path`` without following a symlink; None if it is gone."""
    try:
        attrs = client.lstat(path)
    except OSError as exc:
        if _session_lost(exc):
            raise
        if exc.errno == errno.ENOENT:
            return None
        raise _refused(exc, f"looking at {path}") from exc
    return Seen(stat.S_ISREG(attrs.st_mode or 0), attrs.st_size or 0, int(attrs.st_mtime or 0))


def delete(client: paramiko.SFTPClient, path: str) -> None:
    with _refusals(f"deleting {path}"):
        client.remove(path)


def _exists(client: paramiko.SFTPClient, path: str) -> bool:
    with _refusals(f"looking at {path}"):
        try:
            client.lstat(path)
        except FileNotFoundError:
            return False
    return True


def make_dirs(client: paramiko.SFTPClient, directory: str) -> None:
    """``mkdir -p``: each missing component in turn, one made meanwhile by someone else
    accepted."""
    parts = directory.rstrip("/").split("/")
    for depth in range(1, len(parts) + 1):
        path = "/".join(parts[:depth])
        if path in ("", ".") or _exists(client, path):
            continue
        try:
            client.mkdir(path)
        except OSError as exc:
            if _session_lost(exc):
                raise
            if not _exists(client, path):
                raise _refused(exc, f"creating the archive directory {path}") from exc


def _free_name(client: paramiko.SFTPClient, directory: str, name: str) -> str:
    stem, extension = posixpath.splitext(name)
    for suffix in range(MAX_SUFFIX + 1):
        candidate = name if suffix == 0 else f"{stem}-{suffix}{extension}"
        target = posixpath.join(directory, candidate)
        if not _exists(client, target):
            return target
    raise RemoteActionError(f"{name} and {MAX_SUFFIX} suffixed names are taken in {directory}")


def move(client: paramiko.SFTPClient, path: str, directory: str, *,
         made: set[str] | None = None) -> str:
    """Move ``path`` into ``directory`` (made if missing) under a name not taken there;
    returns the path it got. ``made``: the directories this session made or found already,
    not looked at again (many files of one scan go to the same archive)."""
    if made is None or directory not in made:
        make_dirs(client, directory)
        if made is not None:
            made.add(directory)
    target = _free_name(client, directory, posixpath.basename(path))
    with _refusals(f"moving {path} to {target}"):
        client.rename(path, target)
    return target


def absolute(client: paramiko.SFTPClient, path: str) -> str:
    """``path`` as the server resolves it (its login directory for a relative one)."""
    with _refusals(f"resolving {path}"):
        return client.normalize(path)
