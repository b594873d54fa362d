"""The downloader's spool janitor against the run's PostgreSQL: the copies no live file
needs go, the others stay."""

import os
import time
import uuid
from pathlib import Path

from infra.spool.keep import ORPHAN_GRACE_SECONDS
from infra.spool.paths import Spool
from services.downloader.janitor import sweep
from tests.unit.test_spool import KEPT

SPOOL_ID = "janitor-test"


async def _file(pool, status: str, spool_id: str = SPOOL_ID) -> uuid.UUID:
    """A files row whose copy is in ``spool_id`` (an admin upload: no server to poll, no
    lease, so nothing re-drives it)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO files (source, remote_path, filename, size, remote_mtime, status,"
            " spool_id) VALUES ('upload', %s, 'f.bin', 4, 0, %s, %s) RETURNING id",
            (f"/janitor/{uuid.uuid4().hex}", status, spool_id))
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
