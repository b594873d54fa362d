"""paramiko's internals behind small typed calls: SFTP requests sent without waiting for
their answers (paramiko has no public call for that, nor for extensions), and a channel
receive buffer in place of paramiko's own.

The only module that touches paramiko's private names. ``PRIVATE_API`` lists them;
tests/unit/test_private_apis.py checks each against the installed paramiko (pinned in
pyproject.toml), so an upgrade that changes one fails there rather than mid-transfer.
"""

from collections import deque
from itertools import islice

import paramiko
import paramiko.sftp
from paramiko.buffered_pipe import BufferedPipe
from paramiko.message import Message
from paramiko.sftp import (
    CMD_ATTRS,
    CMD_CLOSE,
    CMD_DATA,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_HANDLE,
    CMD_NAME,
    CMD_OPEN,
    CMD_OPENDIR,
    CMD_READ,
    CMD_READDIR,
    CMD_STAT,
    CMD_STATUS,
    SFTP_FLAG_READ,
    int64,
)

# (owner, name, its parameters as inspect.signature names them; None for a value or an
# attribute that the owner's __init__ sets).
PRIVATE_API: tuple[tuple[object, str, tuple[str, ...] | None], ...] = (
    (paramiko.SFTPClient, "_request", ("self", "t", "args")),
    (paramiko.SFTPClient, "_async_request", ("self", "fileobj", "t", "args")),
    (paramiko.SFTPClient, "_read_response", ("self", "waitfor")),
    (paramiko.SFTPClient, "_convert_status", ("self", "msg")),
    (paramiko.SFTPClient, "_adjust_cwd", ("self", "path")),
    # what _read_response calls on the object a request was sent for; Requests has it too
    (paramiko.SFTPFile, "_async_response", ("self", "t", "msg", "num")),
    (paramiko.SFTPAttributes, "_from_msg", ("msg", "filename", "longname")),
    (paramiko.Channel, "in_buffer", None),
    (BufferedPipe, "_buffer", None),
    (BufferedPipe, "_buffer_frombytes", ("self", "data")),
    (BufferedPipe, "_buffer_tobytes", ("self", "limit")),
    *((paramiko.sftp, name, None) for name in (
        "CMD_ATTRS", "CMD_CLOSE", "CMD_DATA", "CMD_EXTENDED", "CMD_EXTENDED_REPLY",
        "CMD_HANDLE", "CMD_NAME", "CMD_OPEN", "CMD_OPENDIR", "CMD_READ", "CMD_READDIR",
        "CMD_STAT", "CMD_STATUS", "SFTP_FLAG_READ", "int64")),
)


class Requests:
    """SFTP requests on one client, sent without waiting; their answers are taken later,
    in any order.

    paramiko hands an answer that arrives while another is awaited to the object its
    request was sent for (``_async_response``); this keeps it until it is taken.
    """

    def __init__(self, client: paramiko.SFTPClient) -> None:
        self._client = client
        self._arrived: dict[int, tuple[int, Message]] = {}

    def _async_response(self, kind: int, msg: Message, num: int) -> None:
        self._arrived[num] = (kind, msg)

    def _send(self, kind: int, *args: object) -> int:
        return self._client._async_request(self, kind, *args)

    def open(self, path: str) -> int:
        """OPEN ``path`` for reading; ``handle`` takes the answer."""
        return self._send(CMD_OPEN, self._client._adjust_cwd(path), SFTP_FLAG_READ,
                          paramiko.SFTPAttributes())

    def read(self, handle: bytes, offset: int, length: int) -> int:
        return self._send(CMD_READ, handle, int64(offset), int(length))

    def read_directory(self, handle: bytes) -> int:
        return self._send(CMD_READDIR, handle)

    def close(self, handle: bytes) -> int:
        return self._send(CMD_CLOSE, handle)

    def stat(self, path: str) -> int:
        return self._send(CMD_STAT, self._client._adjust_cwd(path))

    def data(self, num: int) -> bytes | None:
        """The bytes a READ got; None at the end of the file."""
        msg = self._take(num, CMD_DATA)
        return None if msg is None else msg.get_string()

    def names(self, num: int) -> bytes | None:
        """A READDIR's SSH_FXP_NAME packet after its request id; None at the end."""
        msg = self._take(num, CMD_NAME)
        return None if msg is None else msg.get_remainder()

    def handle(self, num: int) -> bytes:
        """The handle an OPEN got."""
        msg = self._take(num, CMD_HANDLE)
        if msg is None:
            raise paramiko.SFTPError("the server ended an OPEN with end of file")
        return msg.get_binary()

    def done(self, num: int) -> None:
        """Wait for a request answered by a status (CLOSE)."""
        self._take(num, CMD_STATUS)

    def attributes(self, num: int) -> paramiko.SFTPAttributes | None:
        msg = self._take(num, CMD_ATTRS)
        return None if msg is None else paramiko.SFTPAttributes._from_msg(msg)

    def _take(self, num: int, expected: int) -> Message | None:
        """The answer to request ``num``, waiting for it; None for end of file or directory.

        Raises ``OSError`` for a status that refuses the request.
        """
        arrived = self._arrived.pop(num, None)
        try:  # paramiko raises the error a status stands for; EOFError for the end
            kind, msg = arrived if arrived is not None else self._client._read_response(num)
            if kind == CMD_STATUS:
                self._client._convert_status(msg)
        except EOFError:
            return None
        if kind != expected:
            raise paramiko.SFTPError(f"expected SFTP message {expected}, got {kind}")
        return msg


def open_file(client: paramiko.SFTPClient, path: str) -> bytes:
    """The handle of ``path`` opened for reading."""
    kind, msg = client._request(CMD_OPEN, client._adjust_cwd(path), SFTP_FLAG_READ,
                                paramiko.SFTPAttributes())
    return _handle(kind, msg, path)


def open_directory(client: paramiko.SFTPClient, path: str) -> bytes:
    kind, msg = client._request(CMD_OPENDIR, path)
    return _handle(kind, msg, path)


def _handle(kind: int, msg: Message | None, path: str) -> bytes:
    if kind != CMD_HANDLE or msg is None:
        raise paramiko.SFTPError(f"expected a handle for {path}, got SFTP message {kind}")
    return msg.get_binary()


def close_handle(client: paramiko.SFTPClient, handle: bytes) -> None:
    client._request(CMD_CLOSE, handle)


def extension(client: paramiko.SFTPClient, name: str) -> Message | None:
    """The reply to the SFTP extension request ``name``; None if the server answers
    otherwise. Raises ``OSError`` or ``SFTPError`` for a refusal."""
    kind, reply = client._request(CMD_EXTENDED, name)
    return reply if kind == CMD_EXTENDED_REPLY else None


def open_sftp_channel(transport: paramiko.Transport, *, window_size: int,
                      max_packet_size: int) -> paramiko.Channel:
    """A session channel running the sftp subsystem, on a ``ChannelBuffer`` from its first
    byte (``SFTPClient.from_transport`` with the buffer swapped before any data)."""
    chan = transport.open_session(window_size=window_size, max_packet_size=max_packet_size)
    chan.in_buffer = ChannelBuffer()
    chan.invoke_subsystem("sftp")
    return chan


class ReceivedBytes:
    """Bytes received on a channel, kept as the pieces they arrived in.

    Takes the place of the ``array.array`` inside paramiko's ``BufferedPipe``, which moves
    everything still buffered on every read (its front is deleted) and reallocates as it
    grows. Here appending and dropping a prefix move nothing, a read of a whole piece is the
    piece itself, and memory is what is buffered. Only the operations the pipe uses.
    """

    def __init__(self) -> None:
        self._pieces: deque[bytes] = deque()
        self._skip = 0  # bytes of the first piece already read
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        if data:
            self._pieces.append(data)
            self._size += len(data)

    def head(self, limit: int | None) -> bytes:
        wanted = self._size if limit is None else min(limit, self._size)
        first = self._pieces[0] if self._pieces else b""
        if self._skip == 0 and len(first) == wanted:
            return first
        if len(first) - self._skip >= wanted:
            return first[self._skip:self._skip + wanted]
        out = bytearray(memoryview(first)[self._skip:])
        for piece in islice(self._pieces, 1, None):
            if len(out) >= wanted:
                break
            out += piece
        del out[wanted:]
        return bytes(out)

    def __delitem__(self, prefix: slice) -> None:
        dropped = self._size if prefix.stop is None else min(prefix.stop, self._size)
        self._size -= dropped
        dropped += self._skip
        while self._pieces and dropped >= len(self._pieces[0]):
            dropped -= len(self._pieces.popleft())
        self._skip = dropped if self._pieces else 0


class ChannelBuffer(BufferedPipe):
    """paramiko's channel buffer over ``ReceivedBytes``: a read costs what it returns, where
    paramiko's moves everything still buffered (docs/performance.md, target 1)."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = ReceivedBytes()

    def _buffer_frombytes(self, data: bytes) -> None:
        self._buffer.append(data)

    def _buffer_tobytes(self, limit: int | None = None) -> bytes:
        return self._buffer.head(limit)
