"""Ending an SFTP connection from another thread.

paramiko blocks in worker threads that asyncio cannot cancel, and its timeouts are per step
(a stalled partner costs each in turn; one that drips bytes, a listing say, restarts the
request's timeout with each).
``Cutoff.cut`` shuts the connection's socket down under paramiko, so a read blocked on it
fails at once (end of stream), paramiko's transport thread ends, and whatever waits on it
raises: the thread returns. The socket is only shut down, never closed here: its owner,
the session, still closes it, so no other thread ever reads a descriptor number reused.
"""

import socket
import threading
from contextlib import suppress

from infra.sftp.session import SftpError


class ConnectionCut(SftpError):
    """The connection was cut from outside before it was open."""


class Cutoff:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cut = False

    @property
    def is_cut(self) -> bool:
        return self._cut

    def attach(self, sock: socket.socket) -> None:
        """Cut ``sock`` with this cutoff; at once, raising, if the cut came first."""
        with self._lock:
            if not self._cut:
                self._sockets.append(sock)
                return
        _shut(sock)
        raise ConnectionCut("the connection was cut before it was open")

    def cut(self) -> None:
        """Shut down every attached socket; callable from any thread, more than once."""
        with self._lock:
            self._cut = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with suppress(OSError):  # not connected, or already closed by its owner
        sock.shutdown(socket.SHUT_RDWR)
