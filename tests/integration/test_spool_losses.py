"""Spools that stop showing life, against the run's PostgreSQL: which copies are lost, what
their files become (with the message that sends them on, in the outbox), and where the
count of losses stops them."""

import uuid
from datetime import timedelta

from contracts import FileDiscovered
from infra import file_states
from infra.file_states import SPOOL_HELD, Status
from infra.spool import registry
from tests.integration.outbox_rows import take_outbox

LOST_AFTER = 10


async def _spool(pool, *, silent_for: timedelta) -> str:
    spool_id = f"sp-{uuid.uuid4().hex[:10]}"
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO spools (id, hostname, seen_at) VALUES (%s, 'h', %s)",
                           (spool_id, await _now(conn) - silent_for))
    return spool_id


async def _now(conn):
    return (await (await conn.execute("SELECT max(seen_at) AS t FROM spools")).fetchone())[
        "t"] or (await (await conn.execute("SELECT now() AS t")).fetchone())["t"]


async def _file(pool, *, spool: str, status: Status, upload: bool = False, losses: int = 0,
                leased: bool = False) -> uuid.UUID:
    async with pool.connection() as conn:
        server = None
        if not upload:
            cur = await conn.execute(
                "INSERT INTO servers (name, host, username, enabled) VALUES (%s, 'h', 'u', false)"
                " RETURNING id", (f"loss-{uuid.uuid4().hex[:8]}",))
            server = (await cur.fetchone())["id"]
        cur = await conn.execute(
            "INSERT INTO files (server_id, source, remote_path, filename, size, remote_mtime,"
            " status, sha256, spool_id, spool_losses, lease_until)"
            " VALUES (%s, %s, %s, 'a.csv', 10, 1, %s, 'x', %s, %s,"
            "         CASE WHEN %s THEN now() + interval '1 minute' END) RETURNING id",
            (server, "upload" if upload else "sftp", f"/in/{uuid.uuid4()}/a.csv", status, spool,
             losses, leased))
        return (await cur.fetchone())["id"]


async def _row(pool, file_id):
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM files WHERE id = %s", (file_id,))
        return await cur.fetchone()


async def _lose(pool) -> set[uuid.UUID]:
    rows = await file_states.lose_copies_of_dead_spools(pool, lost_after=LOST_AFTER,
                                                        max_losses=3, limit=10_000)
    return {row.id for row in rows}


async def test_the_copies_of_a_silent_spool_go_back_to_be_downloaded(pool) -> None:
    live = await _spool(pool, silent_for=timedelta(0))
    dead = await _spool(pool, silent_for=timedelta(seconds=LOST_AFTER + 5))
    kept = {status: await _file(pool, spool=live, status=status) for status in SPOOL_HELD}
    lost = {status: await _file(pool, spool=dead, status=status) for status in SPOOL_HELD}
    claimed = await _file(pool, spool=dead, status=Status.STORING, leased=True)

    changed = await _lose(pool)

    assert set(lost.values()) <= changed
    assert not (set(kept.values()) | {claimed}) & changed
    for status, file_id in lost.items():
        row = await _row(pool, file_id)
        assert (row["status"], row["spool_id"], row["spool_losses"]) == ("discovered", None, 1)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT event, details FROM file_events WHERE file_id = %s", (file_id,))
            [(event, details)] = [(r["event"], r["details"]) for r in await cur.fetchall()]
        assert event == "spool_lost"
        assert details == {"spool": dead, "from_status": status, "status": "discovered",
                           "losses": 1, "reason": f"its spool showed no life for {LOST_AFTER}s"}
        [queued] = await take_outbox(pool, file_id)
        assert FileDiscovered.model_validate(queued["body"]).file_id == file_id


async def test_the_third_loss_in_a_row_fails_the_file_and_an_upload_fails_at_once(pool) -> None:
    await _spool(pool, silent_for=timedelta(0))
    dead = await _spool(pool, silent_for=timedelta(minutes=5))
    third = await _file(pool, spool=dead, status=Status.DOWNLOADED, losses=2)
    upload = await _file(pool, spool=dead, status=Status.DOWNLOADED, upload=True)

    await _lose(pool)

    row = await _row(pool, third)
    assert (row["status"], row["spool_losses"]) == ("failed", 3)
    assert row["error_message"].startswith("lost its copy 3 times in a row, last: its spool")
    row = await _row(pool, upload)
    assert row["status"] == "failed" and "an upload must be sent again" in row["error_message"]
    assert await take_outbox(pool, third) == await take_outbox(pool, upload) == []


async def test_an_outage_that_silences_every_spool_loses_none(pool) -> None:
    """Liveness is measured against the newest beat: when every beat stopped (the database
    was down), nobody is lost until the others beat again."""
    async with pool.connection() as conn:
        await conn.execute("UPDATE spools SET seen_at = seen_at - interval '1 hour'")
    quiet = await _spool(pool, silent_for=timedelta(seconds=3))
    file_id = await _file(pool, spool=quiet, status=Status.DOWNLOADED)

    assert file_id not in await _lose(pool)
    assert await registry.alive(pool, {quiet}, lost_after=LOST_AFTER) == {quiet}


async def test_long_silent_spools_with_no_copies_are_forgotten(pool) -> None:
    old = timedelta(seconds=registry.FORGET_AFTER_SECONDS + 60)
    await _spool(pool, silent_for=timedelta(0))
    empty = await _spool(pool, silent_for=old)
    holding = await _spool(pool, silent_for=old)
    await _file(pool, spool=holding, status=Status.STORING, leased=True)

    await registry.forget_silent(pool, held=SPOOL_HELD)

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM spools WHERE id = ANY(%s)", ([empty, holding],))
        assert {row["id"] for row in await cur.fetchall()} == {holding}
