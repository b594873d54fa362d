"""The spool janitor: removes spool files that no live file needs any more.

Which copies may go is the spool's rule (``infra.spool.keep``); this sweep applies it and
logs every removal. First it lets go of the copies of files failed for
``INTAKE_SPOOL_FAILED_KEEP_DAYS`` (``infra.file_states.expiry``): their rows stop naming
this spool, so the rule lets the copies go in the same sweep.
"""

import asyncio
import logging

from infra import file_states
from infra.postgres import Pool
from infra.spool.keep import Unneeded, unneeded
from infra.spool.paths import Spool

log = logging.getLogger(__name__)


def _remove(doomed: list[Unneeded]) -> int:
    removed = 0
    for spooled in doomed:
        try:
            spooled.path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        log.info("removed spool file %s (file status %s)", spooled.path.name,
                 spooled.status or "unknown",
                 extra={"file_id": str(spooled.file_id), "event": "spool_removed"})
    return removed


async def sweep(pool: Pool, spool: Spool, spool_id: str, *, failed_keep_days: int = 0) -> int:
    """Delete unneeded spool files, with the copies of files failed ``failed_keep_days``
    days ago or more (0: those are kept); returns how many were removed."""
    if failed_keep_days > 0:
        held = await asyncio.to_thread(spool.files)
        await file_states.expire_copies(pool, set(held.values()), spool=spool_id,
                                        keep_days=failed_keep_days)
    doomed = await unneeded(pool, spool, spool_id)
    return await asyncio.to_thread(_remove, doomed) if doomed else 0
