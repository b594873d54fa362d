"""The downloader's spool janitor against the run's PostgreSQL: the copies no live file
needs go, the others stay; a failed file's copy goes once it has waited its days."""

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from infra.spool.keep import ORPHAN_GRACE_SECONDS
from infra.spool.paths import Spool
from services.downloader.janitor import sweep
from tests.unit.test_spool import KEPT

SPOOL_ID = "janitor-test"


async def _file(pool, status: str, spool_id: str = SPOOL_ID, *,
                since: timedelta = timedelta(0)) -> uuid.UUID:
    """A files row whose copy is in ``spool_id``, at ``status`` since ``since`` ago (an admin
    upload: no server to poll, no lease, so nothing re-drives it)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO files (source, remote_path, filename, size, remote_mtime, status,"
            " spool_id, updated_at) VALUES ('upload', %s, 'f.bin', 4, 0, %s, %s, now() - %s)"
            " RETURNING id", (f"/janitor/{uuid.uuid4().hex}", status, spool_id, since))
        row = await cur.fetchone()
    return row["id"]


async def test_the_sweep_removes_only_the_copies_no_file_needs(pool, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    kept, removed = set(), set()
    for status, (complete_kept, partial_kept) in KEPT.items():
        file_id = await _file(pool, status)
        for path, keep in ((spool.complete(file_id), complete_kept),
                           (spool.partial(file_id), partial_kept)):
            path.write_bytes(b"data")
            (kept if keep else removed).add(path)
    fresh, stale = spool.complete(uuid.uuid4()), spool.partial(uuid.uuid4())  # no rows
    for path in (fresh, stale):
        path.write_bytes(b"data")
    old = time.time() - ORPHAN_GRACE_SECONDS - 60
    os.utime(stale, (old, old))
    foreign = tmp_path / "notes.txt"
    foreign.write_bytes(b"not the spool's")
    kept |= {fresh, foreign}
    removed.add(stale)
    # Copies of files another spool holds now (downloaded again elsewhere) go, whatever
    # the file's status.
    for status in KEPT:
        elsewhere = await _file(pool, status, spool_id="another-host")
        for path in (spool.complete(elsewhere), spool.partial(elsewhere)):
            path.write_bytes(b"data")
            removed.add(path)

    assert await sweep(pool, spool, SPOOL_ID) == len(removed)
    assert set(tmp_path.iterdir()) == kept
    assert await sweep(pool, spool, SPOOL_ID) == 0


KEEP_DAYS = 7


@pytest.mark.parametrize("keep_days", [KEEP_DAYS, 0])
async def test_a_failed_file_s_copy_goes_once_it_waited_its_days(pool, tmp_path: Path,
                                                                 keep_days: int) -> None:
    spool = Spool(tmp_path)
    long_ago, lately = timedelta(days=KEEP_DAYS, hours=1), timedelta(days=KEEP_DAYS - 1)
    expired = await _file(pool, "failed", since=long_ago)
    kept = {
        "failed lately": await _file(pool, "failed", since=lately),
        # Waiting in the pipeline that long is no failure: the copy is still needed.
        "downloaded": await _file(pool, "downloaded", since=long_ago),
    }
    for file_id in (expired, *kept.values()):
        spool.complete(file_id).write_bytes(b"data")
    spool.partial(expired).write_bytes(b"da")

    removed = await sweep(pool, spool, SPOOL_ID, failed_keep_days=keep_days)

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT spool_id FROM files WHERE id = %s", (expired,))
        holder = (await cur.fetchone())["spool_id"]
        cur = await conn.execute(
            "SELECT event, details FROM file_events WHERE file_id = %s", (expired,))
        events = [(row["event"], row["details"]) for row in await cur.fetchall()]
    for file_id in kept.values():
        assert spool.complete(file_id).exists()
    if keep_days == 0:  # kept forever
        assert (removed, holder, events) == (0, SPOOL_ID, [])
        assert spool.complete(expired).exists()
        return
    assert removed == 2
    assert not spool.complete(expired).exists() and not spool.partial(expired).exists()
    assert holder is None  # a retry restarts it from its server, not from this spool
    [(event, details)] = events
    assert event == "spool_expired"
    assert (details["spool"], details["kept_days"]) == (SPOOL_ID, KEEP_DAYS)
    assert await sweep(pool, spool, SPOOL_ID, failed_keep_days=keep_days) == 0
