"""A scripted SFTP server (paramiko's server side) whose one directory lists whatever a test
gives it: the hostile partner that sends names no real filesystem has."""

import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import paramiko

USER, PASSWORD = "partner", "partner-password"


def entry(name: str, size: int, *, mode: int = stat.S_IFREG | 0o644) -> paramiko.SFTPAttributes:
    attrs = paramiko.SFTPAttributes()
    attrs.filename, attrs.st_size, attrs.st_mode = name, size, mode
    attrs.st_atime = attrs.st_mtime = 1_700_000_000
    return attrs


class Truncated(paramiko.SFTPAttributes):
    """An entry whose attributes claim a size and send none: the packet ends too early."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.filename = name

    def _pack(self, msg: paramiko.Message) -> None:
        msg.add_int(self.FLAG_SIZE)


class _Auth(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = (username, password) == (USER, PASSWORD)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED


class _Listing(paramiko.SFTPServerInterface):
    def __init__(self, server: paramiko.ServerInterface,
                 entries: list[paramiko.SFTPAttributes], hold: threading.Event | None) -> None:
        super().__init__(server)
        self._entries = entries
        self._hold = hold

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes]:
        if self._hold is not None:
            self._hold.wait(60)
        return list(self._entries)

    def stat(self, path: str) -> paramiko.SFTPAttributes:
        return entry(path, 0, mode=stat.S_IFDIR | 0o755)


@contextmanager
def fake_sftp_server(entries: list[paramiko.SFTPAttributes], *,
                     hold: threading.Event | None = None) -> Iterator[tuple[str, int, str]]:
    """Serve ``entries`` as every directory's listing; yields (host, port, host key line).

    With ``hold``, a listing is answered only once it is set: a partner that logs in
    and then never lists (set when the server stops)."""
    key = paramiko.ECDSAKey.generate()
    listener = socket.create_server(("127.0.0.1", 0))
    transports: list[paramiko.Transport] = []

    def serve() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(sock)
            transport.add_server_key(key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _Listing, entries,
                                            hold)
            transport.start_server(server=_Auth())
            transports.append(transport)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", listener.getsockname()[1], f"{key.get_name()} {key.get_base64()}"
    finally:
        if hold is not None:
            hold.set()
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        listener.close()
        for transport in transports:
            transport.close()
        thread.join(5)
