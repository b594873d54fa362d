"""Discovery against a real sshd and PostgreSQL: stability, identity, caps, bad servers."""

import logging
import socket
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from infra.crypto import SecretBox
from infra.outbox import Outbox
from infra.sftp.pool import SessionPool
from infra.sftp.slots import SessionSlots
from infra.telemetry import StageMetrics
from services.discovery.scanning import Scanner
from services.discovery.settings import DiscoverySettings
from tests.harness import make_inbox
from tests.integration.recording import RecordingPublisher


@pytest.fixture
def folder(sftp_server) -> tuple[str, Path]:
    """A fresh remote directory per test, so tests never see each other's files."""
    return make_inbox(sftp_server, f"scan-{uuid.uuid4().hex[:8]}")


def put(local: Path, name: str, data: bytes) -> None:
    path = local / name
    path.write_bytes(data)
    path.chmod(0o644)


async def add_server(pool, settings, sftp_server, remote_dir, **overrides) -> dict:
    box = SecretBox(settings.secret_key)
    values = {
        "name": f"s-{uuid.uuid4().hex[:10]}", "host": sftp_server.host, "port": sftp_server.port,
        "username": sftp_server.username, "password_enc": box.encrypt(sftp_server.password),
        "remote_dir": remote_dir, "min_file_age_s": 0, "host_key": sftp_server.host_key,
        **overrides,
    }
    columns = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"INSERT INTO servers ({columns}) VALUES ({marks})"
            " RETURNING *, now() AS scan_started",
            list(values.values()),
        )
        return await cur.fetchone()


async def reload(pool, server_id) -> dict:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM servers WHERE id = %s", (server_id,))
        return await cur.fetchone()


def make_scanner(settings, pool, **overrides) -> tuple[Scanner, RecordingPublisher]:
    discovery = DiscoverySettings.model_validate({**settings.model_dump(), **overrides})
    publisher = RecordingPublisher()
    outbox = Outbox(pool, publisher, grace_seconds=60)  # type: ignore[arg-type]
    scanner = Scanner(discovery, pool, SecretBox(settings.secret_key), outbox,
                      StageMetrics(CollectorRegistry()),
                      SessionPool.for_service(pool, discovery, keep_idle=False))
    return scanner, publisher


async def test_a_stable_file_is_recorded_and_announced_once(settings, pool, sftp_server, folder):
    remote, local = folder
    put(local, "report 1 – é.csv", b"a,b\n1,2\n")
    put(local, "upload.part", b"half")
    put(local, ".hidden", b"x")
    server = await add_server(pool, settings, sftp_server, remote)
    scanner, publisher = make_scanner(settings, pool)

    first = await scanner.scan(server)
    second = await scanner.scan(server)

    assert (first.listed, first.emitted) == (1, 1)
    assert (second.listed, second.emitted) == (1, 0)
    [(stage, message)] = publisher.sent
    assert stage == "discovered"
    assert message.remote_path == f"{remote}/report 1 – é.csv"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT f.filename, f.size, f.status, e.event FROM files f"
            " JOIN file_events e ON e.file_id = f.id WHERE f.server_id = %s", (server["id"],))
        assert await cur.fetchall() == [
            {"filename": "report 1 – é.csv", "size": 8, "status": "discovered",
             "event": "discovered"}]
    scanned = await reload(pool, server["id"])
    assert scanned["last_scan_error"] is None
    assert (scanned["scan_failures"], scanned["last_scan_ok_at"] is not None) == (0, True)


async def test_a_file_must_stay_unchanged_for_the_minimum_age(settings, pool, sftp_server,
                                                              folder):
    remote, local = folder
    put(local, "growing.bin", b"1234")
    server = await add_server(pool, settings, sftp_server, remote, min_file_age_s=3600)
    scanner, publisher = make_scanner(settings, pool)

    assert (await scanner.scan(server)).emitted == 0
    # Pretend the first sighting was long ago instead of waiting an hour.
    async with pool.connection() as conn:
        await conn.execute("UPDATE sightings SET first_seen_at = now() - interval '2 hours'"
                           " WHERE server_id = %s", (server["id"],))
    put(local, "growing.bin", b"123456")  # still growing: the clock starts again
    assert (await scanner.scan(server)).emitted == 0
    async with pool.connection() as conn:
        await conn.execute("UPDATE sightings SET first_seen_at = now() - interval '2 hours'"
                           " WHERE server_id = %s", (server["id"],))
    assert (await scanner.scan(server)).emitted == 1
    assert publisher.sent[0][1].size == 6


async def test_one_scan_announces_at_most_the_cap(settings, pool, sftp_server, folder):
    remote, local = folder
    for i in range(5):
        put(local, f"f{i}.txt", b"x" * i)
    server = await add_server(pool, settings, sftp_server, remote)
    scanner, _ = make_scanner(settings, pool, max_new_per_scan=2, scan_batch_size=2)

    emitted = [(await scanner.scan(server)).emitted for _ in range(4)]

    assert emitted == [2, 2, 1, 0]


async def test_a_replaced_file_is_a_new_version(settings, pool, sftp_server, folder):
    remote, local = folder
    put(local, "daily.csv", b"v1")
    server = await add_server(pool, settings, sftp_server, remote)
    scanner, _ = make_scanner(settings, pool)
    await scanner.scan(server)
    put(local, "daily.csv", b"version 2")
    await scanner.scan(server)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT size FROM files WHERE server_id = %s ORDER BY size", (server["id"],))
        assert [r["size"] for r in await cur.fetchall()] == [2, 9]


async def test_an_unreachable_server_is_recorded_not_raised(settings, pool, sftp_server, folder):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    server = await add_server(pool, settings, sftp_server, folder[0], port=closed_port)
    scanner, _ = make_scanner(settings, pool)

    result = await scanner.scan(server)
    await scanner.scan(server)

    assert result.emitted == 0
    scanned = await reload(pool, server["id"])
    assert (scanned["scan_failures"], scanned["last_scan_ok_at"]) == (2, None)
    error = scanned["last_scan_error"]
    assert f"cannot reach 127.0.0.1:{closed_port}" in error
    assert sftp_server.password not in error


async def test_a_changed_host_key_stops_the_server(settings, pool, sftp_server, folder):
    remote, local = folder
    put(local, "a.txt", b"a")
    wrong = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP64ZSDdhiUawTRaeJnHxSxN6fQBMoT8fCEd8BXicA9Z"
    server = await add_server(pool, settings, sftp_server, remote, host_key=wrong)
    scanner, publisher = make_scanner(settings, pool)

    await scanner.scan(server)

    assert publisher.sent == []
    assert "host key" in (await reload(pool, server["id"]))["last_scan_error"]


async def test_unpinned_keys_are_refused_unless_trust_on_first_use(settings, pool, sftp_server,
                                                                   folder):
    remote, local = folder
    put(local, "a.txt", b"a")
    refused = await add_server(pool, settings, sftp_server, remote, host_key=None)
    trusting = await add_server(pool, settings, sftp_server, remote, host_key=None,
                                trust_on_first_use=True)
    scanner, _ = make_scanner(settings, pool)

    assert (await scanner.scan(refused)).emitted == 0
    assert (await scanner.scan(trusting)).emitted == 1

    assert "no host key pinned" in (await reload(pool, refused["id"]))["last_scan_error"]
    pinned = (await reload(pool, trusting["id"]))["host_key"]
    assert pinned.split()[:2] == sftp_server.host_key.split()[:2]


def scan_lines(caplog) -> list[tuple[int, str, dict]]:
    """What the scanner logged: level, message and the summary's fields."""
    fields = ("listed", "emitted", "skipped", "recovered")
    return [(r.levelno, r.getMessage(), {f: getattr(r, f) for f in fields if hasattr(r, f)})
            for r in caplog.records if r.name == "services.discovery.scanning"]


async def test_one_debug_line_per_quiet_poll_info_when_something_changed(
        settings, pool, sftp_server, folder, caplog):
    remote, local = folder
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    server = await add_server(pool, settings, sftp_server, remote, port=closed_port)
    scanner, _ = make_scanner(settings, pool)
    caplog.set_level(logging.DEBUG, logger="services.discovery.scanning")

    async def poll() -> list[tuple[int, str, dict]]:
        caplog.clear()
        row = await reload(pool, server["id"])  # as discovery claims it: with the last error
        await scanner.scan({**row, "scan_started": server["scan_started"]})
        return scan_lines(caplog)

    [(level, message, _)] = await poll()
    assert level == logging.WARNING and "cannot reach" in message
    [(level, message, _)] = await poll()  # the same error again: no news
    assert level == logging.DEBUG and "cannot reach" in message

    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET port = %s WHERE id = %s",
                           (sftp_server.port, server["id"]))
    assert await poll() == [(logging.INFO, "scan finished",
                             {"listed": 0, "emitted": 0, "skipped": 0, "recovered": True})]
    assert await poll() == [(logging.DEBUG, "scan finished",
                             {"listed": 0, "emitted": 0, "skipped": 0, "recovered": False})]
    put(local, "new.csv", b"1")
    [discovered, finished] = await poll()
    assert discovered[:2] == (logging.INFO, "discovered")
    assert finished == (logging.INFO, "scan finished",
                        {"listed": 1, "emitted": 1, "skipped": 0, "recovered": False})


async def test_skipped_symlinks_are_counted_and_logged(settings, pool, sftp_server, folder,
                                                       caplog):
    remote, local = folder
    put(local, "real.csv", b"1,2\n")
    (local / "link.csv").symlink_to(local / "real.csv")
    (local / "link.txt").symlink_to(local / "real.csv")  # not wanted anyway: not counted
    server = await add_server(pool, settings, sftp_server, remote, pattern="*.csv")
    scanner, publisher = make_scanner(settings, pool)
    caplog.set_level(logging.DEBUG)

    result = await scanner.scan(server)

    assert (result.listed, result.emitted, result.skipped) == (1, 1, 1)
    assert [message.remote_path for _, message in publisher.sent] == [f"{remote}/real.csv"]
    skipping = [r.getMessage() for r in caplog.records if r.name == "infra.sftp.listing"]
    assert skipping == [f"skipping {remote}/link.csv: not a regular file (lrwxrwxrwx)"]
    assert scan_lines(caplog)[-1][2] == {"listed": 1, "emitted": 1, "skipped": 1,
                                         "recovered": False}


async def test_a_scan_while_every_session_slot_is_taken_waits_for_the_next_poll(
        settings, pool, sftp_server, folder):
    remote, local = folder
    put(local, "a.csv", b"1")
    server = await add_server(pool, settings, sftp_server, remote, max_connections=1)
    downloader = SessionSlots(pool, lease_seconds=30)  # another process holds the only one
    assert await downloader.claim(server["id"], "its wait") == 1
    scanner, _ = make_scanner(settings, pool, session_slot_wait_seconds=0.5)

    postponed = await scanner.scan(server)

    assert postponed.listed == 0
    row = await reload(pool, server["id"])
    assert (row["last_scan_error"], row["scan_lease_until"]) == (None, None)  # not a failure
    await downloader.release(server["id"], 1)
    scanned = await scanner.scan(server)
    assert (scanned.listed, scanned.emitted) == (1, 1)
