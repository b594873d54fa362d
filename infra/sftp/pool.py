"""Reusable SFTP sessions, capped per partner server.

Opening an SSH session costs several round trips and a key exchange; moving thousands of
small files needs the sessions kept. The per-server cap (``servers.max_connections``)
also bounds how hard one partner is hit, whatever the number of queued messages.
Used from worker threads only.
"""

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from infra.sftp.session import SftpSession, SftpTarget, connect

IDLE_SECONDS = 60.0


class SessionPool:
    def __init__(self, *, connect_timeout: float, io_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._lock = threading.Lock()
        self._idle: dict[SftpTarget, list[tuple[float, SftpSession]]] = defaultdict(list)
        self._slots: dict[SftpTarget, threading.BoundedSemaphore] = {}
        self.opened = 0

    def _slot(self, target: SftpTarget, cap: int) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(target)
            if slot is None:
                slot = self._slots[target] = threading.BoundedSemaphore(cap)
            return slot

    def _take_idle(self, target: SftpTarget) -> SftpSession | None:
        now = time.monotonic()
        with self._lock:
            idle = self._idle[target]
            while idle:
                since, session = idle.pop()
                if now - since < IDLE_SECONDS and session.transport.is_active():
                    return session
                session.close()
        return None

    @contextmanager
    def session(self, target: SftpTarget, *, cap: int) -> Iterator[SftpSession]:
        """Borrow a session; it returns to the pool unless the work in between failed."""
        slot = self._slot(target, cap)
        slot.acquire()
        try:
            session = self._take_idle(target)
            if session is None:
                session = connect(target, connect_timeout=self._connect_timeout,
                                  io_timeout=self._io_timeout)
                self.opened += 1
            try:
                yield session
            except BaseException:
                session.close()
                raise
            with self._lock:
                self._idle[target].append((time.monotonic(), session))
        finally:
            slot.release()

    def close(self) -> None:
        with self._lock:
            for sessions in self._idle.values():
                for _, session in sessions:
                    session.close()
            self._idle.clear()
