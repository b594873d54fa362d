"""Reading a remote file: a byte range with a fixed number of reads in flight, and a close
that brings the file's attributes back in the same round trip.

paramiko's ``prefetch()`` either asks for the whole file at once, buffering without bound
when the consumer is slower, or, called a window at a time, lets the pipe run dry at the
end of every window. This sends the next read as each answer is handed out, so the pipe
stays full and at most ``depth`` reads are ever buffered (docs/performance.md, target 1).
paramiko has no public call for it; the requests go through ``infra.sftp.wire``.

``RemoteFile`` sends CLOSE and the STAT that checks the file did not change together,
after the last read was answered, and takes the answers later: one round trip fewer per
file, spent while the spool copy is flushed (docs/performance.md, target 4).
"""

import contextlib
from collections import deque
from collections.abc import Iterator
from types import TracebackType

import paramiko

from infra.sftp import wire


def read_range(client: paramiko.SFTPClient, handle: bytes, start: int, end: int, *,
               read_size: int, depth: int) -> Iterator[bytes]:
    """The bytes of ``[start, end)`` in order, in blocks of up to ``read_size``.

    Stops early if the file ends first; raises ``OSError`` for what the server refuses.
    Abandoning the iterator leaves answers on the wire: close the session then.
    """
    requests = wire.Requests(client)
    pending: deque[tuple[int, int, int]] = deque()  # request number, offset, length
    next_offset = start
    while pending or next_offset < end:
        while next_offset < end and len(pending) < depth:
            length = min(read_size, end - next_offset)
            pending.append((requests.read(handle, next_offset, length), next_offset, length))
            next_offset += length
        num, offset, length = pending.popleft()
        got = 0
        while True:
            data = requests.data(num)
            if not data:
                for later, _, _ in pending:  # drain: the session stays usable
                    requests.data(later)
                return
            yield data
            got += len(data)
            if got >= length:
                break
            # A short answer (the server's limit, or a file still being written): ask for
            # the rest before handing out anything after it.
            num = requests.read(handle, offset + got, length - got)


class RemoteFile:
    """A remote file open for reading by its SFTP handle (``handle`` for ``read_range``)."""

    def __init__(self, client: paramiko.SFTPClient, path: str) -> None:
        self._client = client
        self._path = path
        self.handle = wire.open_file(client, path)
        self._requests = wire.Requests(client)
        self._closing: tuple[int, int] | None = None

    def start_closing(self) -> None:
        """Send CLOSE and a STAT of the path, without waiting: ``closed_attributes`` takes
        the answers. Call once every read is answered, so the STAT sees the file after them."""
        self._closing = (self._requests.close(self.handle), self._requests.stat(self._path))

    def closed_attributes(self) -> paramiko.SFTPAttributes:
        """The file's attributes as the server saw them once it was closed; raises
        ``OSError`` if it is gone."""
        if self._closing is None:
            raise RuntimeError("start_closing() first")
        close, stat = self._closing
        self._requests.done(close)
        attrs = self._requests.attributes(stat)
        if attrs is None:
            raise paramiko.SFTPError(f"no attributes for {self._path}")
        return attrs

    def __enter__(self) -> "RemoteFile":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._closing is None:  # a copy that failed: the handle still goes, if it can
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException,
                                     paramiko.SFTPError):
                wire.close_handle(self._client, self.handle)
