"""Copying a batch of small files into the spool over one session, each with its own outcome.

The files are read together (``infra.sftp.whole_files``); each lands in the spool the way a
file alone does: written to its ``.part``, flushed with ``fsync`` and renamed. A file the
server refused, or that changed since it was listed, is that file's outcome alone.
"""

import errno
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import paramiko

from infra.sftp.session import (
    RemoteFileChanged,
    SftpError,
    SftpSession,
    translate_io_error,
)
from infra.sftp.whole_files import Wanted, WholeFile, read_whole_files
from infra.spool.paths import Spool
from infra.spool.space import SpoolFull
from services.downloader.downloading import LeaseLost


@dataclass(frozen=True)
class Remote:
    file_id: UUID
    path: str
    size: int
    mtime: int


@dataclass(frozen=True)
class Copied:
    file_id: UUID
    size: int
    sha256: str
    md5: str


@dataclass(frozen=True)
class NotCopied:
    file_id: UUID
    error: Exception


@dataclass(frozen=True)
class BatchCopy:
    outcomes: list[Copied | NotCopied]
    seconds: float


def fetch_batch(session: SftpSession, files: Sequence[Remote], *, spool: Spool,
                window: int, abort: threading.Event) -> BatchCopy:
    """Copy ``files`` into ``spool``; an outcome for each, in order. Runs in a thread.

    At most ``window`` bytes are read ahead of the spool. A session that fails midway is
    closed (its pool drops it) and fails the files not copied yet, with its error.
    """
    started = time.monotonic()
    outcomes: list[Copied | NotCopied] = []
    read = read_whole_files(session.client, [Wanted(file.path, file.size) for file in files],
                            read_size=session.read_size, group_bytes=window)
    try:
        for file, got in zip(files, read, strict=False):
            if abort.is_set():
                raise LeaseLost("claims on the batch lost; copy abandoned")
            outcomes.append(_land(spool, file, got))
    except (paramiko.SSHException, paramiko.SFTPError, EOFError, OSError) as exc:
        session.close()
        error = SftpError(f"connection lost while reading a batch: {exc}")
        outcomes += [NotCopied(file.file_id, error) for file in files[len(outcomes):]]
    return BatchCopy(outcomes, time.monotonic() - started)


def _land(spool: Spool, file: Remote, got: WholeFile) -> Copied | NotCopied:
    """The file's copy written and checked, or why not."""
    if got.error is not None:
        return NotCopied(file.file_id, translate_io_error(got.error, file.path))
    attrs = got.attributes
    assert attrs is not None  # read_whole_files gives data with its attributes
    if (len(got.data) != file.size or attrs.st_size != file.size
            or int(attrs.st_mtime or 0) != file.mtime):
        return NotCopied(file.file_id, RemoteFileChanged(
            f"{file.path} changed on the server (size {file.size} -> {attrs.st_size}, "
            f"mtime {file.mtime} -> {attrs.st_mtime}); the new version will be picked up "
            "when stable"))
    part = spool.partial(file.file_id)
    try:
        with part.open("wb") as out:
            out.write(got.data)
            out.flush()
            os.fsync(out.fileno())
        part.rename(spool.complete(file.file_id))
    except OSError as exc:
        part.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            return NotCopied(file.file_id,
                             SpoolFull(f"spool volume filled up while copying {file.path}"))
        return NotCopied(file.file_id, exc)
    return Copied(file.file_id, file.size, hashlib.sha256(got.data).hexdigest(),
                  hashlib.md5(got.data, usedforsecurity=False).hexdigest())
