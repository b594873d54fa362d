"""Discovery of a fleet against real PostgreSQL and sshd: scan workers side by side, each
scan under a deadline that cuts its connection, listing caps, backoff of failing servers."""

import asyncio
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.discovery.fleet import scan_fleet
from tests.fake_sftp import entry, fake_sftp_server
from tests.harness import make_inbox
from tests.integration.test_discovery_scanning import add_server, make_scanner, put, reload
from tests.integration.test_hostile_listings import _Partner
from tests.tarpit import Tarpit

HEALTHY, SILENT, DRIPPING = 45, 3, 2
DEADLINE_S = 20.0
CONNECT_TIMEOUT_S = 60.0  # per step, longer than the deadline


async def wait_for(check, *, within: float, what: str):
    """Poll ``check`` (async, truthy when done) until it holds; fail after ``within`` s."""
    end = time.monotonic() + within
    while not (result := await check()):
        if time.monotonic() > end:
            pytest.fail(f"not within {within} s: {what}")
        await asyncio.sleep(0.2)
    return result


async def scalar(pool, query: str, *args):
    async with pool.connection() as conn:
        cur = await conn.execute(query, args)
        row = await cur.fetchone()
        return next(iter(row.values()))


@pytest.fixture
async def only_our_servers(pool):
    """The scan workers claim any due server of the database: other tests' servers are
    put aside (their tests are over); ours are disabled once this test is done."""
    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET enabled = false WHERE enabled")
    ours: list[int] = []
    yield ours
    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET enabled = false WHERE id = ANY(%s)", (ours,))
        # Nothing will copy them; the reconciler of a later test would re-drive them.
        await conn.execute("UPDATE files SET status = 'failed' WHERE server_id = ANY(%s)"
                           " AND status = 'discovered'", (ours,))


async def test_fifty_servers_five_of_them_tarpits(settings, pool, sftp_server,
                                                  only_our_servers):
    run = uuid.uuid4().hex[:8]
    healthy = []
    for i in range(HEALTHY):
        remote, local = make_inbox(sftp_server, f"fleet-{run}-{i:02d}")
        put(local, f"file-{i:02d}.csv", b"1,2\n")
        row = await add_server(pool, settings, sftp_server, remote, poll_interval_s=3600)
        healthy.append(row["id"])
    with Tarpit() as silent, Tarpit(drip_seconds=1.0) as dripping:
        bad = []
        for pit, count in ((silent, SILENT), (dripping, DRIPPING)):
            for _ in range(count):
                # Due before every healthy server: they take the first workers.
                row = await add_server(pool, settings, sftp_server, sftp_server.inbox,
                                       port=pit.port, poll_interval_s=30,
                                       next_scan_at=datetime.now(UTC) - timedelta(hours=1))
                bad.append(row["id"])
        only_our_servers.extend(healthy + bad)
        # Per-step timeouts longer than the deadline: only the deadline ends the tarpits'
        # scans (the banner's read timeout never fires on a drip; paramiko bounds the key
        # exchange as a whole by the connect timeout, but not the login or a listing).
        scanner, _ = make_scanner(settings, pool, scan_concurrency=8,
                                  scan_deadline_seconds=DEADLINE_S,
                                  sftp_connect_timeout=CONNECT_TIMEOUT_S)
        # One after the other, each tarpit would cost at least a connect timeout; with one
        # worker, even under the deadline, the healthy servers would wait 5 deadlines.
        sequential = (SILENT + DRIPPING) * CONNECT_TIMEOUT_S
        started = time.monotonic()
        workers = asyncio.create_task(scan_fleet(scanner, workers=8, tick_seconds=0.2))
        try:
            async def all_found() -> bool:
                return await scalar(pool, "SELECT count(DISTINCT server_id) FROM files"
                                          " WHERE server_id = ANY(%s)", healthy) == HEALTHY
            # Before the deadline frees the first worker a tarpit holds: found by the others.
            await wait_for(all_found, within=DEADLINE_S,
                           what="every healthy server's file is a files row")
            found_after = time.monotonic() - started

            async def bad_recorded() -> bool:
                return await scalar(pool, "SELECT count(*) FROM servers WHERE id = ANY(%s)"
                                          " AND scan_failures >= 1", bad) == len(bad)
            await wait_for(bad_recorded, within=DEADLINE_S + 20,
                           what="every tarpit recorded as failed")
            # The cut connections are closed: no thread is left reading them.
            await wait_for(lambda: _none_open(silent, dripping), within=10,
                           what="the tarpits' connections closed")
        finally:
            workers.cancel()
            await asyncio.gather(workers, return_exceptions=True)

    assert found_after < DEADLINE_S < sequential
    assert silent.accepted == SILENT and dripping.accepted == DRIPPING
    for server_id in bad:
        row = await reload(pool, server_id)
        assert row["scan_failures"] == 1
        assert row["last_scan_error"] == (f"scan deadline of {DEADLINE_S:g} s passed while"
                                          f" connecting to {row['host']}:{row['port']}")
        # Backed off: twice the poll interval after the failure, not the poll interval.
        assert row["next_scan_at"] - row["last_scan_at"] == timedelta(seconds=60)
        assert row["last_scan_ok_at"] is None
    for server_id in healthy:
        row = await reload(pool, server_id)
        assert (row["scan_failures"], row["last_scan_error"]) == (0, None)
        assert row["last_scan_ok_at"] is not None


async def _none_open(*pits: Tarpit) -> bool:
    return all(pit.open == 0 for pit in pits)


async def test_a_stalled_scan_keeps_its_server_until_its_deadline(settings, pool, sftp_server,
                                                                 only_our_servers):
    with Tarpit() as pit:
        row = await add_server(pool, settings, sftp_server, sftp_server.inbox, port=pit.port,
                               poll_interval_s=1)
        only_our_servers.append(row["id"])
        # A lease shorter than the deadline, and a server due again every second: only the
        # lease's renewal while the scan is stalled keeps a second worker off it.
        scanner, _ = make_scanner(settings, pool, scan_lease_seconds=5,
                                  scan_deadline_seconds=8, sftp_connect_timeout=15)
        workers = asyncio.create_task(scan_fleet(scanner, workers=3, tick_seconds=0.2))
        try:
            async def failed() -> bool:
                return (await reload(pool, row["id"]))["scan_failures"] >= 1
            await wait_for(failed, within=30, what="the tarpit's scan recorded as failed")
        finally:
            workers.cancel()
            await asyncio.gather(workers, return_exceptions=True)
        assert pit.accepted == 1


async def test_a_scan_stopped_with_its_replica_frees_its_server_at_once(settings, pool,
                                                                        sftp_server):
    """A replica stopping mid-scan gives the server back: its successor, or another
    replica, scans it at its next poll rather than once the lease has run out."""
    with Tarpit() as pit:
        server = await add_server(pool, settings, sftp_server, sftp_server.inbox,
                                  port=pit.port, poll_interval_s=10, enabled=False)
        scanner, _ = make_scanner(settings, pool, scan_lease_seconds=60,
                                  scan_deadline_seconds=30, sftp_connect_timeout=30)
        async with pool.connection() as conn:
            await conn.execute("UPDATE servers SET scan_lease_until = now() + interval '60 s'"
                               " WHERE id = %s", (server["id"],))
        scan = asyncio.create_task(scanner.scan(await reload(pool, server["id"])))

        async def connected() -> bool:
            return pit.accepted == 1
        await wait_for(connected, within=10, what="the scan connected to the tarpit")
        scan.cancel()
        with pytest.raises(asyncio.CancelledError):
            await scan
    row = await reload(pool, server["id"])
    assert row["scan_lease_until"] is None
    assert (row["scan_failures"], row["last_scan_error"]) == (0, None)  # not a failure


async def test_a_listing_that_never_comes_is_cut_at_the_deadline(settings, pool):
    hold = threading.Event()
    with fake_sftp_server([entry("late.csv", 1)], hold=hold) as (host, port, key):
        server = await add_server(pool, settings, _Partner(host, port, key), "/in",
                                  poll_interval_s=10)
        scanner, publisher = make_scanner(settings, pool, scan_deadline_seconds=2)
        started = time.monotonic()
        result = await scanner.scan(server)
        took = time.monotonic() - started
    assert result.emitted == 0 and publisher.sent == []
    assert took < settings.sftp_io_timeout / 2  # the listing's own timeout did not end it
    row = await reload(pool, server["id"])
    assert row["last_scan_error"] == "scan deadline of 2 s passed while listing /in"
    assert row["scan_failures"] == 1
    assert row["next_scan_at"] - row["last_scan_at"] == timedelta(seconds=20)


async def test_consecutive_failures_back_off_and_a_success_resets(settings, pool, sftp_server):
    remote, local = make_inbox(sftp_server, f"backoff-{uuid.uuid4().hex[:8]}")
    put(local, "a.csv", b"1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    server = await add_server(pool, settings, sftp_server, remote, port=closed_port,
                              poll_interval_s=10)
    scanner, _ = make_scanner(settings, pool, scan_max_backoff_seconds=60)

    waits = []
    for _ in range(4):
        await scanner.scan(await reload(pool, server["id"])
                           | {"scan_started": server["scan_started"]})
        row = await reload(pool, server["id"])
        waits.append(round((row["next_scan_at"] - row["last_scan_at"]).total_seconds()))
    assert waits == [20, 40, 60, 60]
    assert row["scan_failures"] == 4

    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET port = %s WHERE id = %s",
                           (sftp_server.port, server["id"]))
    claimed = await reload(pool, server["id"])
    await scanner.scan(claimed | {"scan_started": server["scan_started"]})
    row = await reload(pool, server["id"])
    assert (row["scan_failures"], row["last_scan_error"]) == (0, None)
    assert row["last_scan_ok_at"] == row["last_scan_at"]


async def test_a_scan_at_its_entry_cap_warns_and_keeps_what_it_saw(settings, pool,
                                                                   sftp_server):
    remote, local = make_inbox(sftp_server, f"capped-{uuid.uuid4().hex[:8]}")
    for i in range(6):
        put(local, f"f{i}.csv", b"1")
    server = await add_server(pool, settings, sftp_server, remote, max_listing_entries=3)
    async with pool.connection() as conn:  # a sighting the capped listing may not reach
        await conn.execute("INSERT INTO sightings (server_id, remote_path, size, remote_mtime,"
                           " first_seen_at, last_seen_at) VALUES (%s, %s, 1, 1,"
                           " now() - interval '1 day', now() - interval '1 day')",
                           (server["id"], f"{remote}/unseen.csv"))
    scanner, _ = make_scanner(settings, pool)

    result = await scanner.scan(server)

    assert result.emitted == 3
    assert await scalar(pool, "SELECT count(*) FROM files WHERE server_id = %s",
                        server["id"]) == 3
    row = await reload(pool, server["id"])
    assert row["last_scan_error"] is None and row["scan_failures"] == 0
    assert row["last_scan_warnings"] == {"refused": 0, "entries": [], "capped": [
        "the listing stopped at max_listing_entries = 3 entries read: files past them were"
        " not seen"]}
    # An incomplete listing forgets no sighting.
    assert await scalar(pool, "SELECT count(*) FROM sightings WHERE server_id = %s"
                              " AND remote_path = %s", server["id"], f"{remote}/unseen.csv") == 1
