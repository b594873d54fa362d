"""Reading many small files on one session, their requests in flight together.

One file at a time waits a round trip for its OPEN, one for its READ and one for its CLOSE
and STAT: at thousands of small files, that waiting is the download. Here a group of files
(up to ``group_files`` and ``group_bytes``, the memory bound) is read in three rounds: all
its OPENs, then all its READs, then all its CLOSEs with a STAT of each path, the way the
listing keeps its READDIRs in flight (docs/performance.md, target 3). The requests go
through ``infra.sftp.wire``.

A file the server refuses (gone, unreadable) is an error of that file alone; a session
that fails fails the files not yet read, which the caller hands back one by one.
"""

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import paramiko

from infra.sftp import wire

GROUP_FILES = 64


@dataclass(frozen=True)
class Wanted:
    path: str
    size: int  # as listed: this many bytes are asked for


@dataclass(frozen=True)
class WholeFile:
    """What reading one file got: its bytes and the attributes its path had once it was
    closed, or the error the server answered with (an ``OSError``, as paramiko raises)."""

    data: bytes = b""
    attributes: paramiko.SFTPAttributes | None = None
    error: OSError | None = None


def read_whole_files(client: paramiko.SFTPClient, wanted: Sequence[Wanted], *,
                     read_size: int, group_bytes: int,
                     group_files: int = GROUP_FILES) -> Iterator[WholeFile]:
    """A ``WholeFile`` for each of ``wanted``, in order. Raises what paramiko raises for a
    session that fails (the files not yielded yet are not read)."""
    for group in _groups(wanted, group_files, group_bytes):
        yield from _read_group(wire.Requests(client), group, read_size)


def _groups(wanted: Sequence[Wanted], files: int, size: int) -> Iterator[Sequence[Wanted]]:
    start, held = 0, 0
    for i, file in enumerate(wanted):
        if i > start and (i - start >= files or held + file.size > size):
            yield wanted[start:i]
            start, held = i, 0
        held += file.size
    if start < len(wanted):
        yield wanted[start:]


def _read_group(requests: wire.Requests, group: Sequence[Wanted],
                read_size: int) -> list[WholeFile]:
    opens = [requests.open(file.path) for file in group]
    handles: list[bytes | OSError] = []
    for num in opens:
        try:
            handles.append(requests.handle(num))
        except OSError as exc:
            handles.append(exc)
    reads = [[] if isinstance(handle, OSError) else
             [(requests.read(handle, offset, min(read_size, file.size - offset)), offset)
              for offset in range(0, file.size, read_size)]
             for file, handle in zip(group, handles, strict=True)]
    contents: list[bytes | OSError] = []
    for file, handle, file_reads in zip(group, handles, reads, strict=True):
        contents.append(handle if isinstance(handle, OSError)
                        else _take_reads(requests, handle, file.size, file_reads, read_size))
    closing = [None if isinstance(handle, OSError) else
               (requests.close(handle), requests.stat(file.path))
               for file, handle in zip(group, handles, strict=True)]
    results = []
    for content, closed in zip(contents, closing, strict=True):
        if closed is None:
            assert isinstance(content, OSError)
            results.append(WholeFile(error=content))
            continue
        close, stat = closed
        with contextlib.suppress(OSError):  # the bytes are read; the STAT tells if they hold
            requests.done(close)
        try:
            attributes = requests.attributes(stat)
        except OSError as exc:
            results.append(WholeFile(error=exc))
            continue
        if isinstance(content, OSError):
            results.append(WholeFile(error=content))
        else:
            results.append(WholeFile(data=content, attributes=attributes))
    return results


def _take_reads(requests: wire.Requests, handle: bytes, size: int,
                reads: list[tuple[int, int]], read_size: int) -> bytes | OSError:
    """The file's bytes from its READs' answers, asking again for what a short answer left
    out; every answer is taken, even after an error, so the session stays usable."""
    pieces: list[bytes] = []
    error: OSError | None = None
    for num, offset in reads:
        length = min(read_size, size - offset)
        got = 0
        while True:
            try:
                data = requests.data(num)
            except OSError as exc:
                error = error or exc
                break
            if not data:  # the file ended early: the STAT shows it changed
                break
            pieces.append(data)
            got += len(data)
            if got >= length:
                break
            num = requests.read(handle, offset + got, length - got)
    return error if error is not None else b"".join(pieces)
