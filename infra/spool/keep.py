"""Which spool copies may be removed: the ones no live file needs any more.

Crashes leave copies behind (a worker killed after the upload committed but before it
deleted its spool file, a ``.part`` of a file that went missing). A complete copy is kept
while its file may still be uploaded; a ``.part`` while its file may still resume; either
only while the file's row says this spool holds it (a file downloaded again elsewhere
after this spool was thought lost needs no copy here; a failed file's row stops saying so
once its copy expired, ``infra.file_states.expiry``).
"""

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from infra.file_states import Status
from infra.postgres import Pool
from infra.spool.paths import Spool

# A spool file no row knows (a copy left when its row went) goes only after a while.
ORPHAN_GRACE_SECONDS = 3600

_KEEP_COMPLETE = frozenset({Status.DISCOVERED, Status.DOWNLOADING, Status.DOWNLOADED,
                            Status.STORING, Status.FAILED})
_KEEP_PARTIAL = frozenset({Status.DISCOVERED, Status.DOWNLOADING, Status.FAILED})

_STATUSES = "SELECT id, status, spool_id FROM files WHERE id = ANY(%s)"


@dataclass(frozen=True)
class Unneeded:
    """A spool copy that may go, and the status of its file (None: there is no such file)."""

    path: Path
    file_id: UUID
    status: str | None


def may_remove(spool: Spool, path: Path, status: str | None, now: float, *,
               held_here: bool = True) -> bool:
    """Whether the copy at ``path``, whose file has ``status`` (None: no row), may go at
    ``now`` (``time.time()``); ``held_here``: the row names this spool as the copy's.
    Blocks on a stat for a copy with no row."""
    if status is None:
        return now - path.stat().st_mtime >= ORPHAN_GRACE_SECONDS
    if not held_here:
        return True
    return status not in (_KEEP_PARTIAL if spool.is_partial(path) else _KEEP_COMPLETE)


def _select(spool: Spool, spool_id: str, candidates: dict[Path, UUID],
            rows: dict[UUID, tuple[str, str | None]]) -> list[Unneeded]:
    now = time.time()
    doomed = []
    for path, file_id in candidates.items():
        status, holder = rows.get(file_id, (None, None))
        try:
            if may_remove(spool, path, status, now, held_here=holder == spool_id):
                doomed.append(Unneeded(path, file_id, status))
        except FileNotFoundError:
            continue
    return doomed


async def unneeded(pool: Pool, spool: Spool, spool_id: str) -> list[Unneeded]:
    """The copies in ``spool`` (known as ``spool_id``) that no live file needs (looked up
    in ``files``)."""
    candidates = await asyncio.to_thread(spool.files)
    if not candidates:
        return []
    async with pool.connection() as conn:
        cur = await conn.execute(_STATUSES, (list(set(candidates.values())),))
        rows = {row["id"]: (row["status"], row["spool_id"]) for row in await cur.fetchall()}
    return await asyncio.to_thread(_select, spool, spool_id, candidates, rows)
