"""The spool janitor: removes spool files that no live file needs any more.

Which copies may go is the spool's rule (``infra.spool.keep``); this sweep applies it and
logs every removal.
"""

import asyncio
import logging

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


async def sweep(pool: Pool, spool: Spool, spool_id: str) -> int:
    """Delete unneeded spool files; returns how many were removed."""
    doomed = await unneeded(pool, spool, spool_id)
    return await asyncio.to_thread(_remove, doomed) if doomed else 0
