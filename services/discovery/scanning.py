"""Scanning one partner server: stream its listing, compare it with the database in
batches, and announce every file version that has become stable."""

import asyncio
import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from infra import file_states
from infra.crypto import SecretBox
from infra.outbox import Outbox
from infra.postgres import Pool
from infra.server_access import ServerAccess
from infra.servers import remember_host_key, target_from_row
from infra.sftp.listing import RemoteEntry, Skipped, walk
from infra.sftp.session import SftpSession, connect
from infra.telemetry import StageMetrics
from services.discovery import queries
from services.discovery.batching import Batching
from services.discovery.post_fetch import PostFetch
from services.discovery.settings import DiscoverySettings

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    listed: int = 0
    emitted: int = 0
    acted: int = 0  # files deleted or moved on the server (post_fetch.py)
    passed_over: Skipped = field(default_factory=Skipped)

    @property
    def skipped(self) -> int:
        """Matching entries that are no regular file (symlinks, ...)."""
        return self.passed_over.count

    def warnings(self) -> Jsonb | None:
        """``servers.last_scan_warnings``: the entries no row can hold, if any."""
        refused = self.passed_over
        if not refused.refusals:
            return None
        return Jsonb({"refused": refused.refusals, "entries": [
            {"path": path, "reason": reason} for path, reason in refused.refused]})


@dataclass
class _ScanLease:
    """When the server's scan lease was last extended (claimed, at first)."""

    seconds: float
    renewed_at: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        """Renew once a third of it has passed: a batch with nothing new then commits
        without writing, so a re-scan of a big directory costs no WAL flush per batch."""
        return time.monotonic() - self.renewed_at >= self.seconds / 3

    def renewed(self) -> None:
        self.renewed_at = time.monotonic()


def _next_batch(entries: Iterator[RemoteEntry], size: int) -> list[RemoteEntry]:
    return list(itertools.islice(entries, size))


class Scanner:
    def __init__(self, settings: DiscoverySettings, pool: Pool, box: SecretBox,
                 outbox: Outbox, metrics: StageMetrics) -> None:
        self._settings = settings
        self._pool = pool
        self._box = box
        self._outbox = outbox
        self._metrics = metrics
        self._batching = Batching(settings.batch_max_files, settings.batch_max_bytes,
                                  settings.batch_file_max_bytes)
        self._post_fetch = PostFetch(settings, pool, metrics)

    async def claim_due_server(self) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                queries.CLAIM_DUE_SERVER, {"lease": self._settings.scan_lease_seconds}
            )
            return await cur.fetchone()

    async def scan(self, server: dict[str, Any]) -> ScanResult:
        """Scan one claimed server; failures are recorded on the server, never raised.

        One log line per scan, at info only when it tells something new (files found, an
        error other than the last one, the first success after errors): a server polled
        every few seconds would otherwise fill the log with the same lines.
        """
        name, last_error = server["name"], server["last_scan_error"]
        try:
            result = await self._scan(server)
        except Exception as exc:
            error = str(exc) or exc.__class__.__name__
            log.log(logging.DEBUG if error == last_error else logging.WARNING,
                    "scan of %s failed: %s", name, error, extra={"server": name})
            async with self._pool.connection() as conn:
                await conn.execute(queries.SCAN_FAILED, {"id": server["id"], "error": error})
            return ScanResult()
        async with self._pool.connection() as conn:
            await conn.execute(queries.SCAN_SUCCEEDED, {"id": server["id"],
                                                        "warnings": result.warnings()})
        recovered = last_error is not None
        log.log(logging.INFO if result.emitted or result.acted or recovered else logging.DEBUG,
                "scan finished", extra={"server": name, "listed": result.listed,
                                        "emitted": result.emitted, "acted": result.acted,
                                        "skipped": result.skipped,
                                        "refused": result.passed_over.refusals,
                                        "recovered": recovered})
        return result

    async def _scan(self, server: dict[str, Any]) -> ScanResult:
        target = target_from_row(ServerAccess.from_row(server), self._box)
        session: SftpSession = await asyncio.to_thread(
            connect, target, connect_timeout=self._settings.sftp_connect_timeout,
            io_timeout=self._settings.sftp_io_timeout,
        )
        listing: asyncio.Future[list[RemoteEntry]] | None = None
        try:
            if not server["host_key"]:
                await remember_host_key(self._pool, server["id"], session.host_key)
            skipped = Skipped()
            entries = walk(session.client, server["remote_dir"], pattern=server["pattern"],
                           recursive=server["recursive"], skipped=skipped)

            def list_next() -> asyncio.Future[list[RemoteEntry]]:
                return asyncio.ensure_future(asyncio.to_thread(
                    _next_batch, entries, self._settings.scan_batch_size))

            result = ScanResult()
            lease = _ScanLease(self._settings.scan_lease_seconds)
            listing = list_next()
            while batch := await listing:
                # The next batch is listed while the database compares this one: a scan
                # costs about the longer of the two, not their sum.
                listing = list_next()
                result.listed += len(batch)
                room = max(0, self._settings.max_new_per_scan - result.emitted)
                result.emitted += await self._process_batch(server, batch, room, lease)
            async with self._pool.connection() as conn:
                await conn.execute(queries.FORGET_VANISHED,
                                   {"server_id": server["id"],
                                    "scan_started": server["scan_started"]})
            # After the listing, on its session: no listing sees a file half-way through.
            result.acted = await self._post_fetch.run(server, session.client)
            result.passed_over = skipped
            return result
        finally:
            if listing is not None:
                # Never close the session under a listing still running in its thread.
                await asyncio.gather(listing, return_exceptions=True)
            await asyncio.to_thread(session.close)

    async def _process_batch(self, server: dict[str, Any], batch: list[RemoteEntry],
                             room: int, lease: _ScanLease) -> int:
        """Record sightings; turn up to ``room`` stable ones into files rows and announce them."""
        async with self._pool.connection() as conn, conn.transaction():
            if lease.due():
                await conn.execute(queries.RENEW_SCAN_LEASE, {
                    "id": server["id"], "lease": lease.seconds})
                lease.renewed()
            cur = await conn.execute(queries.OBSERVE_BATCH, {
                "server_id": server["id"],
                "entries": queries.listing_param((e.path, e.size, e.mtime) for e in batch),
                "min_age": server["min_file_age_s"],
                "limit": room,
            })
            stable = await cur.fetchall()
            if not stable:
                return 0
            created, messages = await file_states.record_discovered(
                conn, server_id=server["id"], server_name=server["name"],
                paths=[row["remote_path"] for row in stable],
                sizes=[row["size"] for row in stable],
                mtimes=[row["remote_mtime"] for row in stable],
                announce=self._batching.announce,
            )
        for new in created:
            log.info("discovered", extra={"file_id": str(new.id), "event": "discovered",
                                          "server": server["name"], "path": new.remote_path})
        self._metrics.transitions.labels("discovered").inc(len(created))
        for message in messages:
            await self._outbox.send(message)
        return len(created)
