"""Target 5: re-scanning a directory of many files of which a few are new, against
``rclone lsf`` of the same directory.

Runs in a database of its own, calling ``Scanner.scan`` directly (as
tests/integration/test_discovery_scanning.py does) with a publisher that only counts. A
first scan records every file; then the new files are added and the second scan, the
measured one, lists the whole directory, compares it with the database in batches and
records the new ones. The listing alone (``infra.sftp.listing.walk``, fresh session) is timed
too, to split the scan into listing and database work, and the statements the scan sends
are counted through the pool it is given.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.context import Bench, sync_disks
from bench.results import Check, ScenarioResult, at_most, seconds
from infra import outbox
from infra.crypto import SecretBox
from infra.file_states import arrivals
from infra.outbox import Outbox
from infra.postgres import create_pool, migrate
from infra.sftp.listing import walk
from infra.sftp.pool import SessionPool
from infra.sftp.session import connect
from infra.telemetry import StageMetrics
from services.discovery import queries
from services.discovery.scanning import Scanner
from services.discovery.settings import DiscoverySettings
from tests import servers as test_servers
from tests.harness import make_inbox, sftp_target

# A batch costs its comparison, with new files their insert and their messages' outbox
# rows, and now and then a renewal of the scan lease: a constant per batch, never one
# statement per file.
PER_BATCH = 4


class CountingPublisher:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, stage: object, message: object, *, message_id: str) -> None:
        self.sent += 1


# The statements a scan sends by their names in services/discovery/queries.py and
# infra/file_states/arrivals.py.
_STATEMENTS = {text: name for module in (queries, arrivals, outbox)
               for name, text in vars(module).items() if name.isupper() and isinstance(text, str)}


def _count(counts: dict[str, int], query: Any) -> None:
    key = _STATEMENTS.get(query) or " ".join(str(query).split())[:40]
    counts[key] = counts.get(key, 0) + 1


class _CountingCursor:
    def __init__(self, cursor: Any, counts: dict[str, int]) -> None:
        self._cursor = cursor
        self._counts = counts

    async def __aenter__(self) -> "_CountingCursor":
        await self._cursor.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.__aexit__(*exc)

    async def execute(self, query: Any, params: Any = None) -> Any:
        _count(self._counts, query)
        return await self._cursor.execute(query, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _CountingConnection:
    def __init__(self, conn: Any, counts: dict[str, int]) -> None:
        self._conn = conn
        self._counts = counts

    async def execute(self, query: Any, params: Any = None) -> Any:
        _count(self._counts, query)
        return await self._conn.execute(query, params)

    def cursor(self, *args: Any, **kwargs: Any) -> _CountingCursor:
        return _CountingCursor(self._conn.cursor(*args, **kwargs), self._counts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class CountingPool:
    """Hands out the real pool's connections, counting every ``execute`` by statement."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.counts: dict[str, int] = {}

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_CountingConnection]:
        async with self._pool.connection() as conn:
            yield _CountingConnection(conn, self.counts)


def _fill(directory: Path, names: range, prefix: str) -> None:
    for i in names:
        (directory / f"{prefix}-{i:07d}.csv").touch(mode=0o644)


def run(bench: Bench) -> ScenarioResult:
    name = f"bigdir_{bench.servers.run_id}"
    with test_servers.fresh_database(bench.servers.postgres_admin_url, f"intake_{name}") as url:
        return asyncio.run(_run(bench, url, name))


async def _run(bench: Bench, database_url: str, name: str) -> ScenarioResult:
    servers, sizes = bench.servers, bench.sizes
    entries, new = sizes.dir_entries, sizes.dir_new
    remote, local = make_inbox(servers.sftp, name)
    await asyncio.to_thread(_fill, local, range(entries), "old")
    settings = DiscoverySettings.model_validate({
        **{k.removeprefix("INTAKE_").lower(): v for k, v in bench.env.items()},
        "database_url": database_url, "max_new_per_scan": entries + new,
    })
    box = SecretBox(settings.secret_key)
    pool = create_pool(settings)
    await pool.open(wait=True)
    try:
        await migrate(pool)
        server_id = await _add_server(pool, bench, box, remote)
        publisher = CountingPublisher()
        sender = Outbox(pool, publisher, grace_seconds=60)  # type: ignore[arg-type]
        # Its session slot is claimed through the plain pool: only the scan's own statements
        # are counted below.
        sessions = SessionPool.for_service(pool, settings, keep_idle=False)
        scanner = Scanner(settings, pool, box, sender, StageMetrics(CollectorRegistry()),
                          sessions)
        first_started = time.monotonic()
        first = await scanner.scan(await _claim(pool, scanner, server_id))
        first_s = time.monotonic() - first_started
        if first.emitted != entries:
            raise RuntimeError(f"first scan recorded {first.emitted} of {entries} files")

        await asyncio.to_thread(_fill, local, range(new), "new")
        sync_disks()
        listing_s = await asyncio.to_thread(_time_listing, bench, remote)
        counting = CountingPool(pool)
        scanner = Scanner(settings, counting, box, sender,  # type: ignore[arg-type]
                          StageMetrics(CollectorRegistry()), sessions)
        server = await _claim(pool, scanner, server_id)
        started = time.monotonic()
        second = await scanner.scan(server)
        scan_s = time.monotonic() - started
    finally:
        await pool.close()
    rclone, listed = await asyncio.to_thread(bench.rclone.lsf, remote)
    if second.emitted != new or second.listed != entries + new or listed != entries + new:
        raise RuntimeError(f"scan listed {second.listed}, emitted {second.emitted}; "
                           f"rclone listed {listed}; expected {entries + new} and {new}")

    ratio = scan_s / rclone.seconds
    statements = sum(counting.counts.values())
    batches = -(-(entries + new) // settings.scan_batch_size)
    result = ScenarioResult("big-directory")
    result.checks = [
        Check(f"re-scan of {entries + new:,} ({new} new) vs rclone lsf", seconds(scan_s),
              seconds(rclone.seconds), ratio, "<= 1.5", at_most(ratio, 1.5)),
        Check("SQL statements of that scan", str(statements), f"{batches} batches", None,
              f"<= {PER_BATCH} per batch", statements <= PER_BATCH * batches + 5),
    ]
    result.notes = [
        f"listing alone (walk, fresh session) {seconds(listing_s)}; database and the rest "
        f"{seconds(max(scan_s - listing_s, 0))}; first scan (all {entries:,} new) "
        f"{seconds(first_s)}",
        f"statements sent by the measured scan: {_describe(counting.counts)}",
    ]
    return result


async def _add_server(pool: Any, bench: Bench, box: SecretBox, remote: str) -> int:
    sftp = bench.servers.sftp
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO servers (name, host, port, username, password_enc, remote_dir,"
            " min_file_age_s, host_key) VALUES (%s, %s, %s, %s, %s, %s, 0, %s) RETURNING id",
            (f"bigdir-{uuid.uuid4().hex[:8]}", sftp.host, sftp.port, sftp.username,
             box.encrypt(sftp.password), remote, sftp.host_key))
        row = await cur.fetchone()
        return int(row["id"])


async def _claim(pool: Any, scanner: Scanner, server_id: int) -> dict[str, Any]:
    """Make the server due and claim it the way the discovery loop does (no other
    discovery uses this database, so the claim is ours)."""
    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET next_scan_at = now(), scan_lease_until = NULL"
                           " WHERE id = %s", (server_id,))
    server = await scanner.claim_due_server()
    if server is None or server["id"] != server_id:
        raise RuntimeError(f"could not claim server {server_id} for a scan")
    return server


def _time_listing(bench: Bench, remote_dir: str) -> float:
    with connect(sftp_target(bench.servers.sftp), connect_timeout=15,
                 io_timeout=60) as session:
        started = time.monotonic()
        count = sum(1 for _ in walk(session.client, remote_dir))
        elapsed = time.monotonic() - started
    if count == 0:
        raise RuntimeError("listing found nothing")
    return elapsed


def _describe(counts: dict[str, int]) -> str:
    return "; ".join(f"{n} x {query}" for query, n in sorted(counts.items(), key=lambda x: -x[1]))
