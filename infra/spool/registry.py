"""The ``spools`` table: which spools exist and whether each still shows life.

A spool's uploader (the one process that reads its copies) beats; a spool is lost, with
every copy in it (``infra.file_states.losses``), once its last beat is
``spool_lost_after_seconds`` older than the newest beat of any spool. Measured against
the others rather than the clock, an outage that stops every beat at once (the database
down, say) loses no spool: the live ones beat again as soon as it is over.
"""

import socket
import time
from collections.abc import Iterable

from infra.postgres import Pool

_REGISTER = """
INSERT INTO spools (id, hostname) VALUES (%(id)s, %(hostname)s)
ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname
"""

_BEAT = """
INSERT INTO spools (id, hostname) VALUES (%(id)s, %(hostname)s)
ON CONFLICT (id) DO UPDATE SET seen_at = now(), hostname = EXCLUDED.hostname
"""

# The spools that still show life, as a subquery of other statements.
LIVE_SPOOLS = """
SELECT id FROM spools
 WHERE seen_at >= (SELECT max(seen_at) FROM spools)
                  - make_interval(secs => %(lost_after)s)"""

_ALIVE = f"{LIVE_SPOOLS} AND id = ANY(%(ids)s)"

# Kubernetes gives every new pod a spool of its own: rows of spools long silent, whose
# copies were all dealt with, are forgotten.
FORGET_AFTER_SECONDS = 7 * 24 * 3600
_FORGET = """
DELETE FROM spools s
 WHERE s.seen_at < (SELECT max(seen_at) FROM spools) - make_interval(secs => %(after)s)
   AND NOT EXISTS (SELECT 1 FROM files f WHERE f.spool_id = s.id
                      AND f.status = ANY(%(held)s))
"""


async def register(pool: Pool, spool_id: str) -> None:
    """Make the spool known (a downloader starting before its uploader) without a beat."""
    async with pool.connection() as conn:
        await conn.execute(_REGISTER, {"id": spool_id, "hostname": socket.gethostname()})


async def beat(pool: Pool, spool_id: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(_BEAT, {"id": spool_id, "hostname": socket.gethostname()})


async def alive(pool: Pool, spool_ids: set[str], *, lost_after: int) -> set[str]:
    """Those of ``spool_ids`` that showed life within ``lost_after`` seconds."""
    if not spool_ids:
        return set()
    async with pool.connection() as conn:
        cur = await conn.execute(_ALIVE, {"ids": sorted(spool_ids), "lost_after": lost_after})
        return {row["id"] for row in await cur.fetchall()}


async def forget_silent(pool: Pool, *, held: Iterable[str]) -> int:
    """Remove the rows of spools silent for :data:`FORGET_AFTER_SECONDS` with no file in a
    ``held`` status (``infra.file_states.SPOOL_HELD``) that names them."""
    async with pool.connection() as conn:
        cur = await conn.execute(_FORGET, {"after": FORGET_AFTER_SECONDS,
                                           "held": sorted(held)})
        return cur.rowcount


class SpoolWatch:
    """Whether one spool shows life, asked of the database at most every ``every`` seconds:
    a downloader writes no copy into a spool whose uploader has stopped beating."""

    def __init__(self, pool: Pool, spool_id: str, *, lost_after: int, every: float) -> None:
        self._pool = pool
        self._spool_id = spool_id
        self._lost_after = lost_after
        self._every = every
        self._alive = True
        self._asked_at = float("-inf")

    async def alive(self) -> bool:
        if time.monotonic() - self._asked_at >= self._every:
            found = await alive(self._pool, {self._spool_id}, lost_after=self._lost_after)
            self._alive, self._asked_at = bool(found), time.monotonic()
        return self._alive
