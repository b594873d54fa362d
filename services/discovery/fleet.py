"""A replica's scan workers: each claims a due server, scans it, then claims the next, so a
slow or hostile partner holds one worker (at most until its scan deadline), not discovery."""

import asyncio
import logging

from services.discovery.scanning import Scanner

log = logging.getLogger(__name__)


async def scan_fleet(scanner: Scanner, *, workers: int, tick_seconds: float) -> None:
    """Run ``workers`` claim-and-scan loops until cancelled."""
    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(_scan_loop(scanner, tick_seconds))


async def _scan_loop(scanner: Scanner, tick_seconds: float) -> None:
    while True:
        try:
            server = await scanner.claim_due_server()
            if server is not None:
                await scanner.scan(server)
        except Exception:  # the database is away: its lease frees the server meanwhile
            log.exception("cannot claim or record a scan")
            server = None
        if server is None:
            await asyncio.sleep(tick_seconds)
