"""The spool janitor: removes spool files that no live file needs any more.

Crashes leave copies behind (a worker killed after the upload committed but before it
deleted its spool file, a ``.part`` of a file that went missing). A complete copy is kept
while its file may still be uploaded; a ``.part`` while its file may still resume.
"""

import asyncio
import logging
import time
from pathlib import Path
from uuid import UUID

from infra.file_states import Status
from infra.postgres import Pool

log = logging.getLogger(__name__)

# A spool file with no row yet may be an admin upload still streaming in.
ORPHAN_GRACE_SECONDS = 3600

_KEEP_COMPLETE = {Status.DISCOVERED, Status.DOWNLOADING, Status.DOWNLOADED, Status.STORING,
                  Status.FAILED}
_KEEP_PART = {Status.DISCOVERED, Status.DOWNLOADING, Status.FAILED}


def _file_id(path: Path) -> UUID | None:
    try:
        return UUID(path.name.removesuffix(".part"))
    except ValueError:
        return None


def _spool_files(spool: Path) -> dict[Path, UUID]:
    return {p: fid for p in spool.iterdir() if p.is_file() and (fid := _file_id(p))}


def _remove(doomed: list[tuple[Path, UUID, str | None]]) -> int:
    removed = 0
    now = time.time()
    for path, file_id, status in doomed:
        try:
            if status is None and now - path.stat().st_mtime < ORPHAN_GRACE_SECONDS:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        log.info("removed spool file %s (file status %s)", path.name, status or "unknown",
                 extra={"file_id": str(file_id), "event": "spool_removed"})
    return removed


async def sweep(pool: Pool, spool: Path) -> int:
    """Delete unneeded spool files; returns how many were removed."""
    candidates = await asyncio.to_thread(_spool_files, spool)
    if not candidates:
        return 0
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, status FROM files WHERE id = ANY(%s)",
                                 (list(set(candidates.values())),))
        statuses = {row["id"]: row["status"] for row in await cur.fetchall()}
    doomed = []
    for path, file_id in candidates.items():
        status = statuses.get(file_id)
        keep = _KEEP_PART if path.name.endswith(".part") else _KEEP_COMPLETE
        if status not in keep:
            doomed.append((path, file_id, status))
    return await asyncio.to_thread(_remove, doomed)
