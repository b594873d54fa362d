"""Scanning one partner server: stream its listing, compare it with the database in
batches, and announce every file version that has become stable, all under a deadline."""

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from psycopg.types.json import Jsonb

from infra import file_states
from infra.crypto import SecretBox
from infra.outbox import Outbox
from infra.postgres import Pool
from infra.server_access import ServerAccess
from infra.servers import remember_host_key, target_from_row
from infra.sftp.cutoff import Cutoff
from infra.sftp.listing import RemoteEntry, Skipped, walk
from infra.sftp.pool import NoSessionSlot, SessionPool
from infra.sftp.session import SftpError, SftpSession, connect
from infra.telemetry import StageMetrics
from services.discovery import queries
from services.discovery.backoff import backoff_seconds
from services.discovery.batching import Batching
from services.discovery.post_fetch import PostFetch
from services.discovery.settings import DiscoverySettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class ScanDeadlinePassed(SftpError):
    """The scan took longer than ``INTAKE_SCAN_DEADLINE_SECONDS``; its connection was cut."""


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
        """``servers.last_scan_warnings``: the entries no row can hold and the listing caps
        the scan stopped at, if any."""
        passed = self.passed_over
        capped = passed.caps_reached()
        if not passed.refusals and not capped:
            return None
        return Jsonb({"refused": passed.refusals, "entries": [
            {"path": path, "reason": reason} for path, reason in passed.refused],
            "capped": capped})


@dataclass
class _Phase:
    """What a scan is doing, for the error its deadline records."""

    doing: str

    def __str__(self) -> str:
        return self.doing


def _next_batch(entries: Iterator[RemoteEntry], size: int) -> list[RemoteEntry]:
    return list(itertools.islice(entries, size))


class Scanner:
    """``sessions``: a scan's session (its listing, then the post-fetch actions) holds one
    of the server's session slots, like the downloaders' sessions, for as long as it is
    open."""

    def __init__(self, settings: DiscoverySettings, pool: Pool, box: SecretBox,
                 outbox: Outbox, metrics: StageMetrics, sessions: SessionPool) -> None:
        self._settings = settings
        self._pool = pool
        self._sessions = sessions
        self._box = box
        self._outbox = outbox
        self._metrics = metrics
        self._batching = Batching(settings.batch_max_files, settings.batch_max_bytes,
                                  settings.batch_file_max_bytes)
        # A scan has one thread at work at a time (its connect, a listing batch, a post-fetch
        # action, its close): one per concurrent scan, so a stalled partner's thread never
        # holds up another's.
        self._threads = ThreadPoolExecutor(settings.scan_concurrency,
                                           thread_name_prefix="scan")
        self._post_fetch = PostFetch(settings, pool, metrics, self._threads)

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._threads, partial(fn, *args, **kwargs))

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
            # The slot first: waiting for one is no part of the scan's deadline (but the
            # server is kept claimed meanwhile).
            async with self._claim_kept(server), self._sessions.slot(server["id"]):
                result = await self._scan_in_time(server)
        except NoSessionSlot as exc:
            # The partner's sessions are all in use by Intake: not the partner's failure.
            log.info("scan of %s postponed to its next poll: %s", name, exc,
                     extra={"server": name})
            await self._postpone(server)
            return ScanResult()
        except asyncio.CancelledError:
            # The replica is stopping: the server is free for the next one at once, not
            # only once its lease runs out (a restart would otherwise wait a minute).
            with suppress(Exception):
                async with asyncio.timeout(5):
                    await self._postpone(server)
            raise
        except Exception as exc:
            error = str(exc) or exc.__class__.__name__
            failures = server["scan_failures"] + 1
            wait = backoff_seconds(server["poll_interval_s"], failures,
                                   self._settings.scan_max_backoff_seconds)
            log.log(logging.DEBUG if error == last_error else logging.WARNING,
                    "scan of %s failed: %s", name, error,
                    extra={"server": name, "scan_failures": failures, "next_scan_in": wait})
            async with self._pool.connection() as conn:
                await conn.execute(queries.SCAN_FAILED,
                                   {"id": server["id"], "error": error, "wait": wait})
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

    async def _postpone(self, server: dict[str, Any]) -> None:
        """Give the server's claim back; its next scan is at its next poll."""
        async with self._pool.connection() as conn:
            await conn.execute(queries.SCAN_POSTPONED, {"id": server["id"]})

    async def _scan_in_time(self, server: dict[str, Any]) -> ScanResult:
        """The scan, its connection cut once the deadline passes.

        Nothing is cancelled: the cut makes the thread's blocked read fail, the scan's
        own error handling runs (a listing thread is awaited before its session closes)
        and its error is replaced with the deadline's. A batch the database is comparing
        then is recorded. A TCP connect under way then is not cut (no socket yet): it
        ends within its own timeout, then at once.
        """
        deadline = self._settings.scan_deadline_seconds
        cutoff = Cutoff()
        phase = _Phase(f"connecting to {server['host']}:{server['port']}")
        timer = asyncio.get_running_loop().call_later(deadline, cutoff.cut)
        try:
            return await self._scan(server, cutoff, phase)
        except asyncio.CancelledError:
            cutoff.cut()  # the replica is stopping: a thread still connecting returns too
            raise
        except Exception as exc:
            if cutoff.is_cut:
                raise ScanDeadlinePassed(
                    f"scan deadline of {deadline:g} s passed while {phase}") from exc
            raise
        finally:
            timer.cancel()

    @asynccontextmanager
    async def _claim_kept(self, server: dict[str, Any]) -> AsyncIterator[None]:
        claimed = asyncio.create_task(self._keep_claimed(server))
        try:
            yield
        finally:
            claimed.cancel()

    async def _keep_claimed(self, server: dict[str, Any]) -> None:
        """Renew the server's scan lease every third of it while its scan runs, stalled or
        not (the deadline bounds that): only a scan whose replica died loses its server,
        and another replica takes it over within ``INTAKE_SCAN_LEASE_SECONDS``."""
        seconds = self._settings.scan_lease_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                async with self._pool.connection() as conn:
                    await conn.execute(queries.RENEW_SCAN_LEASE,
                                       {"id": server["id"], "lease": seconds})
            except Exception as exc:  # the database away: the scan goes on, maybe twice
                log.warning("scan lease of %s not renewed: %s", server["name"], exc,
                            extra={"server": server["name"]})

    async def _scan(self, server: dict[str, Any], cutoff: Cutoff, phase: _Phase) -> ScanResult:
        target = target_from_row(ServerAccess.from_row(server), self._box)
        session: SftpSession = await self._in_thread(
            connect, target, connect_timeout=self._settings.sftp_connect_timeout,
            io_timeout=self._settings.sftp_io_timeout, cutoff=cutoff,
        )
        listing: asyncio.Future[list[RemoteEntry]] | None = None
        try:
            if not server["host_key"]:
                await remember_host_key(self._pool, server["id"], session.host_key)
            skipped = Skipped()
            entries = walk(session.client, server["remote_dir"], pattern=server["pattern"],
                           recursive=server["recursive"], skipped=skipped,
                           max_entries=server["max_listing_entries"],
                           max_depth=server["max_depth"])

            def list_next() -> asyncio.Future[list[RemoteEntry]]:
                return asyncio.ensure_future(self._in_thread(
                    _next_batch, entries, self._settings.scan_batch_size))

            result = ScanResult()
            phase.doing = f"listing {server['remote_dir']}"
            listing = list_next()
            while batch := await listing:
                # The next batch is listed while the database compares this one: a scan
                # costs about the longer of the two, not their sum.
                listing = list_next()
                result.listed += len(batch)
                phase.doing = f"listing {server['remote_dir']} ({result.listed} files so far)"
                room = max(0, self._settings.max_new_per_scan - result.emitted)
                result.emitted += await self._process_batch(server, batch, room)
            if skipped.complete:  # a listing cut short by its cap saw only part of the tree
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
                # Never close the session under a listing still running in its thread (a
                # cut connection makes it return at once).
                await asyncio.gather(listing, return_exceptions=True)
            await self._in_thread(session.close)

    async def _process_batch(self, server: dict[str, Any], batch: list[RemoteEntry],
                             room: int) -> int:
        """Record sightings; turn up to ``room`` stable ones into files rows and announce them."""
        async with self._pool.connection() as conn, conn.transaction():
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
