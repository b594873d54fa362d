"""Reusable SFTP sessions, capped per partner server across every replica and host.

Opening an SSH session costs several round trips and a key exchange; moving thousands of
small files needs the sessions kept. Every open session, in use or idle, holds one of its
server's slots in PostgreSQL (``infra.sftp.slots``), so ``servers.max_connections`` bounds
how hard Intake as a whole hits a partner, whatever the number of replicas.

The pool lives on the event loop: slots are claimed and sessions handed out there, and
paramiko runs in worker threads only (connecting, closing, and the caller's own work on the
session it was lent).
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Self
from uuid import uuid4

from infra.postgres import Pool
from infra.settings import Settings
from infra.sftp.session import SftpError, SftpSession, SftpTarget, connect
from infra.sftp.slots import SessionSlots

log = logging.getLogger(__name__)

# How often ``tend`` should run: idle sessions are given back within about this long of
# another process starting to wait for their server.
TEND_SECONDS = 1.0
# Polling for a slot starts this fast and slows down to the cap, with jitter. The cap is
# short: a slot given back stays free for the oldest waiter until that waiter's next poll.
_FIRST_PAUSE = 0.1
_MAX_PAUSE = 0.3


class NoSessionSlot(SftpError):
    """Every slot of the server stayed taken for the whole wait: the partner is busy with
    Intake's other sessions. Not the file's fault: its work waits, it is not failed."""


@dataclass(eq=False)
class HeldSlot:
    """One slot of a server held by this process, with the session open on it, if any."""

    server_id: int
    slot: int
    _pool: "SessionPool"
    _session: SftpSession | None = None
    _target: SftpTarget | None = None
    idle_since: float = field(default_factory=time.monotonic)
    broken: bool = False
    lost: bool = False

    @asynccontextmanager
    async def session(self, target: SftpTarget) -> AsyncIterator[SftpSession]:
        """The slot's session to ``target``: the one kept open, or a new one. A session
        whose work raised is not reused."""
        kept = self._session
        if kept is not None and (self._target != target or not kept.transport.is_active()):
            self._session = None
            await asyncio.to_thread(kept.close)
        if self._session is None:
            self._session = await self._pool.open(target)
            self._target = target
        try:
            yield self._session
        except BaseException:
            self.broken = True
            raise

    @property
    def reusable(self) -> bool:
        return (self._session is not None and not self.broken and not self.lost
                and self._session.transport.is_active())

    async def close(self) -> None:
        """Close the session, if any (the slot is the pool's to release)."""
        session, self._session = self._session, None
        if session is not None:
            await asyncio.to_thread(session.close)


class SessionPool:
    """``idle_seconds``: how long a session is kept open unused (0: closed when returned);
    ``wait_seconds``: how long ``slot`` waits for a free slot before ``NoSessionSlot``."""

    def __init__(self, slots: SessionSlots, *, connect_timeout: float, io_timeout: float,
                 idle_seconds: float, wait_seconds: float) -> None:
        self._slots = slots
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._idle_seconds = idle_seconds
        self._wait_seconds = wait_seconds
        self._held: set[HeldSlot] = set()
        self._idle: dict[int, list[HeldSlot]] = defaultdict(list)
        # Local waits for a server's slot, oldest first: a returned session goes to them.
        self._waiting: dict[int, list[asyncio.Future[HeldSlot | None]]] = defaultdict(list)
        self._renewed_at = time.monotonic()
        self._stray: set[tuple[int, int]] = set()
        self.opened = 0

    @property
    def holder(self) -> str:
        """This process, as the slot table names it."""
        return self._slots.holder

    @classmethod
    def for_service(cls, pool: Pool, settings: Settings, *, keep_idle: bool = True) -> Self:
        """The pool of a service that connects to partners, from its settings."""
        return cls(SessionSlots(pool, lease_seconds=settings.session_slot_lease_seconds),
                   connect_timeout=settings.sftp_connect_timeout,
                   io_timeout=settings.sftp_io_timeout,
                   idle_seconds=settings.sftp_idle_seconds if keep_idle else 0,
                   wait_seconds=settings.session_slot_wait_seconds)

    async def open(self, target: SftpTarget) -> SftpSession:
        session = await asyncio.to_thread(connect, target, connect_timeout=self._connect_timeout,
                                          io_timeout=self._io_timeout)
        self.opened += 1
        return session

    @asynccontextmanager
    async def slot(self, server_id: int) -> AsyncIterator[HeldSlot]:
        """Hold one of the server's slots (an idle session's, or a new one) while the body
        runs; then the session is kept for the next borrower or closed and the slot given
        back. Raises ``NoSessionSlot`` when none came free within the wait."""
        held = self._take_idle(server_id) or await self._claim(server_id)
        try:
            yield held
        except BaseException:
            held.broken = True
            raise
        finally:
            await self._put_back(held)

    def _take_idle(self, server_id: int) -> HeldSlot | None:
        idle = self._idle.get(server_id)
        return idle.pop() if idle else None

    async def _claim(self, server_id: int) -> HeldSlot:
        """Poll the table, slower and slower, until a slot is ours or a session of this
        process is handed over; woken early when this process gives a slot back."""
        waiter = uuid4().hex
        deadline = time.monotonic() + self._wait_seconds
        pause = _FIRST_PAUSE
        while True:
            slot = await self._slots.claim(server_id, waiter)
            if slot is not None:
                held = HeldSlot(server_id, slot, self)
                self._held.add(held)
                return held
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._slots.stop_waiting(server_id, waiter)
                raise NoSessionSlot(f"every session slot of server {server_id} stayed in"
                                    f" use for {self._wait_seconds:g}s")
            jittered = pause * random.uniform(0.5, 1.5)  # noqa: S311 - not cryptographic
            handed = await self._wait_here(server_id, min(jittered, remaining))
            if handed is not None:
                with contextlib.suppress(Exception):  # else its row goes stale on its own
                    await self._slots.stop_waiting(server_id, waiter)
                return handed
            pause = min(pause * 2, _MAX_PAUSE)

    async def _wait_here(self, server_id: int, seconds: float) -> HeldSlot | None:
        """A session handed over by a borrower of this process within ``seconds``, or None
        (also when woken because a slot came free: the caller claims again at once)."""
        handoff: asyncio.Future[HeldSlot | None] = asyncio.get_running_loop().create_future()
        waiting = self._waiting[server_id]
        waiting.append(handoff)
        try:
            await asyncio.wait([handoff], timeout=seconds)
        except BaseException:
            if handoff.done() and (handed := handoff.result()) is not None:
                handed.idle_since = time.monotonic()
                self._idle[server_id].append(handed)  # cancelled: ``tend`` sees to it
            raise
        finally:
            waiting.remove(handoff)
        if handoff.done():
            return handoff.result()
        handoff.cancel()
        return None

    def _wake(self, server_id: int, handed: HeldSlot | None) -> bool:
        """Give ``handed`` (or the news that a slot came free) to the oldest local wait."""
        for waiting in self._waiting.get(server_id, ()):
            if not waiting.done():
                waiting.set_result(handed)
                return True
        return False

    async def _put_back(self, held: HeldSlot) -> None:
        """Keep a returned session for a local wait or the next borrower, unless another
        process waits for its server: then its slot goes back, as it does when the session
        is broken, its slot lost, or keeping sessions is not wanted."""
        held.idle_since = time.monotonic()
        keep = held.reusable and self._idle_seconds > 0
        if keep:
            try:
                keep = not await self._slots.waited_for([held.server_id])
            except Exception as exc:  # the database out of reach: keep nothing unasked
                log.warning("cannot tell whether others wait for server %s (%s); closing"
                            " its session", held.server_id, exc)
                keep = False
        if not keep:
            await self._drop(held)
        elif not self._wake(held.server_id, held):
            self._idle[held.server_id].append(held)

    async def _drop(self, held: HeldSlot) -> None:
        self._held.discard(held)
        await held.close()
        if not held.lost:
            try:
                await self._slots.release(held.server_id, held.slot)
            except Exception as exc:  # the next renewal releases it, or its lease runs out
                log.warning("cannot release session slot %s of server %s: %s",
                            held.slot, held.server_id, exc)
        self._wake(held.server_id, None)

    async def tend(self) -> None:
        """Renew the leases (a third of the way through them), close idle sessions past
        their idle time and those another process is waiting for. Run every
        ``TEND_SECONDS``."""
        now = time.monotonic()
        if self._held and now - self._renewed_at >= self._slots.lease_seconds / 3:
            await self._renew()
            self._renewed_at = now
        expired = [held for idle in self._idle.values() for held in idle
                   if now - held.idle_since >= self._idle_seconds]
        if idle_servers := [server_id for server_id, idle in self._idle.items() if idle]:
            waited = await self._slots.waited_for(idle_servers)
            expired += [held for server_id in waited for held in self._idle[server_id]]
        for held in set(expired):
            if self._unidle(held):
                await self._drop(held)

    def _unidle(self, held: HeldSlot) -> bool:
        """Take ``held`` out of the idle ones; False if a borrower took it meanwhile."""
        idle = self._idle.get(held.server_id, [])
        if held not in idle:
            return False
        idle.remove(held)
        return True

    async def _renew(self) -> None:
        kept = await self._slots.renew()
        # A slot claimed but never handed out (its claimer cancelled), or whose release
        # failed, is released once two renewals in a row found it held by nobody here (one
        # may have come between a claim's commit and its borrower).
        stray = kept - {(held.server_id, held.slot) for held in self._held}
        for server_id, slot in stray & self._stray:
            await self._slots.release(server_id, slot)
        self._stray = stray - self._stray
        for held in list(self._held):
            if (held.server_id, held.slot) in kept:
                continue
            # Expired before it was renewed (the database out of reach for a whole lease):
            # another process may hold it now, so the session must not stay open.
            log.warning("session slot %s of server %s expired; closing its session",
                        held.slot, held.server_id)
            held.lost = True
            if self._unidle(held):
                await self._drop(held)
            else:
                await held.close()  # in use: its work fails and is retried

    async def close(self) -> None:
        """Close every session and give back every slot of this process (at its stop)."""
        for held in self._held:
            await held.close()
        self._held.clear()
        self._idle.clear()
        await self._slots.release_all()
