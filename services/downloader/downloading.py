"""Streaming one remote file into the spool, hashing as it goes.

The copy lands in the file's ``.part`` (``infra.spool.paths``) and resumes from the bytes
already there after a crash or a cut connection; only a complete, size-checked copy of an
unchanged remote file is renamed to its final name. A large file is hashed by a child
process that follows the spool file (``spool_hashing``), a small one on the writer thread.
"""

import errno
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import paramiko

from infra.sftp.reads import RemoteFile, read_range
from infra.sftp.session import RemoteFileChanged, SftpError, translate_io_error
from infra.spool.paths import Spool
from infra.spool.space import SpoolFull
from infra.transfer_progress import Meter
from services.downloader.hashing_writer import HashingWriter
from services.downloader.spool_hashing import CHILD_MIN_BYTES, SpoolHasher

CHUNK = 1024 * 1024
# Once the last byte is written, the hashing child has at most the bytes it lagged behind to
# hash: the floor rate is about a twentieth of its own here (docs/performance.md, "Download
# alone"), to allow for a much slower machine.
HASH_TIMEOUT = 60.0
HASH_MIN_RATE = 20e6


class LeaseLost(Exception):
    """Another worker took the file over; this copy must stop."""


@dataclass(frozen=True)
class Download:
    path: Path
    size: int
    sha256: str
    md5: str
    seconds: float
    resumed_from: int

    @property
    def mb_per_s(self) -> float:
        transferred = self.size - self.resumed_from
        return round(transferred / 1e6 / self.seconds, 2) if self.seconds > 0 else 0.0


def _hash_existing(part: Path, sha256: "hashlib._Hash", md5: "hashlib._Hash") -> None:
    with part.open("rb") as existing:
        while chunk := existing.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)


def fetch(
    client: paramiko.SFTPClient,
    remote_path: str,
    *,
    spool: Spool,
    file_id: str,
    size: int,
    mtime: int,
    window: int,
    read_size: int,
    abort: threading.Event,
    meter: Meter,
) -> Download:
    """Copy ``remote_path`` (expected ``size``/``mtime``) to the spool, counting the bytes
    on ``meter``. Runs in a thread."""
    part, final = spool.partial(file_id), spool.complete(file_id)
    started = time.monotonic()
    if final.exists() and final.stat().st_size == size:
        # A previous attempt finished the copy but died before recording it.
        final.rename(part)
    offset = part.stat().st_size if part.exists() else 0
    if offset > size:
        part.unlink()
        offset = 0
    meter.resumed(offset)
    in_child = size >= CHILD_MIN_BYTES
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    if offset and not in_child:
        _hash_existing(part, sha256, md5)
    # A copy of one batch has no reads to overlap and little to waste: no writer thread,
    # and no look at the remote file before it (the look after it catches a change).
    one_batch = size - offset <= CHUNK
    try:
        if not one_batch:
            _check_unchanged(client, remote_path, size, mtime)
        with RemoteFile(client, remote_path) as remote, part.open("ab") as out, \
                (SpoolHasher(part, size) if in_child else nullcontext()) as child:
            with HashingWriter(out, *(() if in_child else (sha256, md5)),
                               threaded=not one_batch) as writer:
                position = offset
                blocks = read_range(client, remote.handle, offset, size, read_size=read_size,
                                    depth=max(1, window // read_size))
                for batch in _batches(blocks, CHUNK):
                    if abort.is_set():
                        raise LeaseLost(f"claim on {file_id} lost; copy abandoned")
                    writer.write(batch)
                    written = sum(map(len, batch))
                    position += written
                    meter.add(written)
                if position < size:
                    _check_unchanged(client, remote_path, size, mtime)
                    raise SftpError(f"{remote_path} ended at {position} of {size} bytes")
            remote.start_closing()  # its round trip overlaps the fsync
            out.flush()
            os.fsync(out.fileno())
            digests = (child.result(timeout=HASH_TIMEOUT + size / HASH_MIN_RATE) if child
                       else (sha256.hexdigest(), md5.hexdigest()))
            _check_attributes(remote.closed_attributes(), remote_path, size, mtime)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise SpoolFull(f"spool volume filled up while copying {remote_path}") from exc
        raise translate_io_error(exc, remote_path) from exc
    except (paramiko.SSHException, paramiko.SFTPError, EOFError) as exc:
        raise SftpError(f"connection lost while reading {remote_path}: {exc}") from exc
    except RemoteFileChanged:
        part.unlink(missing_ok=True)
        raise
    part.rename(final)
    return Download(final, size, *digests, time.monotonic() - started, offset)


def _batches(blocks: Iterator[bytes], wanted: int) -> Iterator[list[bytes]]:
    """Blocks grouped into lists of about ``wanted`` bytes: one hand-off to the writer thread
    per group, which joins it there rather than on this, the reading thread."""
    batch: list[bytes] = []
    held = 0
    for block in blocks:
        batch.append(block)
        held += len(block)
        if held >= wanted:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _check_unchanged(client: paramiko.SFTPClient, path: str, size: int, mtime: int) -> None:
    _check_attributes(client.stat(path), path, size, mtime)


def _check_attributes(attrs: paramiko.SFTPAttributes, path: str, size: int, mtime: int) -> None:
    if attrs.st_size != size or int(attrs.st_mtime or 0) != mtime:
        raise RemoteFileChanged(
            f"{path} changed on the server (size {size} -> {attrs.st_size}, "
            f"mtime {mtime} -> {attrs.st_mtime}); the new version will be picked up when stable"
        )
