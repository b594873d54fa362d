"""The ``session_slots`` table: how many SFTP sessions Intake has open to each partner,
whichever process or host opened them, kept at most ``servers.max_connections``.

A slot is a leased row, not an advisory lock: a session lock would pin one pooled database
connection for as long as the SFTP session stays open, idle ones included, and a lease
lets a crashed holder's slots come back on their own when the lease runs out.
"""

import os
import socket
from uuid import uuid4

from infra.postgres import Pool

# Claims of one server's slots are serialised under this advisory lock (with the server's
# id), held only for the claim's transaction: any constant, the same in every replica.
_CLAIM_LOCK = 0x5E55
# A waiter that has not asked again for this long stopped waiting (gave up, crashed).
WAITER_STALE_SECONDS = 10.0

_LOCK = "SELECT pg_advisory_xact_lock(%(lock)s, %(server_id)s)"

# The cap, the live slots, and whether a live waiter asked before this one (a first-time
# claimer, who has no row yet, comes after every live waiter).
_STANDING = """
SELECT s.max_connections,
       ARRAY(SELECT slot FROM session_slots
              WHERE server_id = s.id AND lease_until > now()) AS live,
       EXISTS (SELECT 1 FROM session_slot_waiters w
                WHERE w.server_id = s.id AND w.waiter <> %(waiter)s
                  AND w.seen_at > now() - make_interval(secs => %(stale)s)
                  AND w.since < coalesce((SELECT since FROM session_slot_waiters
                                           WHERE server_id = s.id AND waiter = %(waiter)s),
                                         'infinity')) AS someone_ahead
  FROM servers s WHERE s.id = %(server_id)s
"""

# The slot number may still have an expired row (a crashed holder's): it is taken over.
_TAKE = """
INSERT INTO session_slots (server_id, slot, holder, lease_until)
VALUES (%(server_id)s, %(slot)s, %(holder)s, now() + make_interval(secs => %(lease)s))
ON CONFLICT (server_id, slot) DO UPDATE
   SET holder = excluded.holder, lease_until = excluded.lease_until, claimed_at = now()
"""

_STOP_WAITING = """
DELETE FROM session_slot_waiters WHERE server_id = %(server_id)s AND waiter = %(waiter)s
"""

_STILL_WAITING = """
INSERT INTO session_slot_waiters (server_id, waiter, holder)
VALUES (%(server_id)s, %(waiter)s, %(holder)s)
ON CONFLICT (server_id, waiter) DO UPDATE SET seen_at = now()
"""

# Only a slot still live is renewed: once expired, another process may have counted it free.
_RENEW = """
UPDATE session_slots SET lease_until = now() + make_interval(secs => %(lease)s)
 WHERE holder = %(holder)s AND lease_until > now()
RETURNING server_id, slot
"""

_RELEASE = """
DELETE FROM session_slots
 WHERE server_id = %(server_id)s AND slot = %(slot)s AND holder = %(holder)s
"""

_RELEASE_ALL = "DELETE FROM session_slots WHERE holder = %(holder)s"

_WAITED_FOR = """
SELECT DISTINCT server_id FROM session_slot_waiters
 WHERE server_id = ANY(%(server_ids)s)
   AND holder <> %(holder)s AND seen_at > now() - make_interval(secs => %(stale)s)
"""


class ServerGone(LookupError):
    """The server's row no longer exists: it has no slots to give."""


def holder_name() -> str:
    """This process among every replica and host: host name, pid and a random tag (a pid
    comes back after a restart, a container's host name with every pod)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"


class SessionSlots:
    """One process's claims on the table, all made under ``holder``."""

    def __init__(self, pool: Pool, *, lease_seconds: float, holder: str | None = None) -> None:
        self._pool = pool
        self.lease_seconds = lease_seconds
        self.holder = holder or holder_name()

    async def claim(self, server_id: int, waiter: str) -> int | None:
        """A slot of the server for this process, or None: every slot up to its cap is live,
        or a waiter who asked earlier comes first (``waiter`` is then remembered, to come
        first in its turn, until it stops asking)."""
        params = {"lock": _CLAIM_LOCK, "server_id": server_id, "waiter": waiter,
                  "holder": self.holder, "lease": self.lease_seconds,
                  "stale": WAITER_STALE_SECONDS}
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_LOCK, params)
            cur = await conn.execute(_STANDING, params)
            standing = await cur.fetchone()
            if standing is None:
                raise ServerGone(f"server {server_id} no longer exists")
            live = set(standing["live"])
            if len(live) >= standing["max_connections"] or standing["someone_ahead"]:
                await conn.execute(_STILL_WAITING, params)
                return None
            # Fewer live slots than the cap: a number up to the cap is free. Slots above a
            # lowered cap stay counted until their holders release them.
            slot = min(set(range(1, standing["max_connections"] + 1)) - live)
            await conn.execute(_TAKE, {**params, "slot": slot})
            await conn.execute(_STOP_WAITING, params)
            return slot

    async def stop_waiting(self, server_id: int, waiter: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_STOP_WAITING, {"server_id": server_id, "waiter": waiter})

    async def renew(self) -> set[tuple[int, int]]:
        """Extend every live lease of this process; returns the (server, slot) pairs still
        held: a slot missing from it expired and may be someone else's now."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_RENEW, {"holder": self.holder,
                                              "lease": self.lease_seconds})
            return {(row["server_id"], row["slot"]) for row in await cur.fetchall()}

    async def release(self, server_id: int, slot: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_RELEASE, {"server_id": server_id, "slot": slot,
                                          "holder": self.holder})

    async def release_all(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_RELEASE_ALL, {"holder": self.holder})

    async def waited_for(self, server_ids: list[int]) -> set[int]:
        """Which of these servers another process is waiting for."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_WAITED_FOR, {"server_ids": server_ids,
                                                   "holder": self.holder,
                                                   "stale": WAITER_STALE_SECONDS})
            return {row["server_id"] for row in await cur.fetchall()}
