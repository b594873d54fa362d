"""New files rows, each written with its first journal row and the outbox row of its first
message: a file discovery found stable on a server (``discovered``), or one an operator
uploaded (``uploaded``, already ``stored``: the admin streamed it into the bucket)."""

import posixpath
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow, args_row
from psycopg.types.json import Jsonb

from contracts import FileDiscovered, Stage
from infra import outbox
from infra.file_states.rows import FileRow, file_row
from infra.file_states.states import Status, check
from infra.outbox import Outgoing, insert_after
from infra.postgres import Pool

# One statement per listing batch, whatever its size: the rows, their journal rows, and the
# end of the sightings that became files. Each row takes its server's post-fetch action as
# it is now (NULL: keep), pending until the file is stored (remote_actions.py).
INSERT_DISCOVERED = """
WITH new AS (
    INSERT INTO files (server_id, remote_path, filename, size, remote_mtime, status,
                       remote_action, remote_action_state, remote_action_due_at)
    SELECT %(server_id)s, p, n, s, m, %(status)s, a.action,
           CASE WHEN a.action IS NOT NULL THEN 'pending' END,
           CASE WHEN a.action IS NOT NULL THEN now() END
      FROM unnest(%(paths)s::text[], %(names)s::text[], %(sizes)s::bigint[],
                  %(mtimes)s::bigint[]) AS t(p, n, s, m),
           (SELECT NULLIF(post_fetch, 'keep') AS action
              FROM servers WHERE id = %(server_id)s) AS a
    ON CONFLICT ON CONSTRAINT files_version DO NOTHING
    RETURNING id, remote_path, size, remote_mtime
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT id, %(event)s, jsonb_build_object(
               'server', %(server_name)s::text, 'size', size, 'remote_mtime', remote_mtime)
      FROM new
), forget AS (
    DELETE FROM sightings WHERE server_id = %(server_id)s AND remote_path = ANY(%(paths)s)
)
SELECT * FROM new
"""

INSERT_UPLOADED = """
WITH new AS (
    INSERT INTO files (id, server_id, source, remote_path, filename, size, remote_mtime,
                       status, sha256, md5, bucket, object_key, etag, stored_at, created_at)
    VALUES (%(id)s, NULL, 'upload', %(remote_path)s, %(filename)s, %(size)s, 0, %(status)s,
            %(sha256)s, %(md5)s, %(bucket)s, %(object_key)s, %(etag)s, now(),
            %(created_at)s)
    RETURNING *
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT id, %(event)s, %(details)s FROM new
), queued AS ({queued})
SELECT * FROM new
""".format(queued=insert_after("new"))  # noqa: S608 (a constant fragment)


class Discovered(NamedTuple):
    """A file version just recorded. A tuple built from the row's values: the cheapest row
    psycopg makes, at thousands per batch (docs/performance.md, target 5)."""

    id: UUID
    remote_path: str
    size: int
    remote_mtime: int

    def message(self, server_id: int) -> FileDiscovered:
        return FileDiscovered(file_id=self.id, server_id=server_id,
                              remote_path=self.remote_path, size=self.size)

    def outgoing(self, server_id: int) -> Outgoing:
        """Its ``FileDiscovered``, as the outbox sends it."""
        return Outgoing(Stage.DISCOVERED, self.message(server_id),
                        f"{self.id}:{Stage.DISCOVERED}")


def one_each(server_id: int, created: Sequence[Discovered]) -> list[Outgoing]:
    """A ``FileDiscovered`` for every new file: ``record_discovered``'s default."""
    return [new.outgoing(server_id) for new in created]


class Recorded(NamedTuple):
    files: list[Discovered]  # the new ones: versions recorded already are left out
    messages: list[Outgoing]  # what announces them, in the outbox


async def record_discovered(
    conn: AsyncConnection[DictRow], *, server_id: int, server_name: str, paths: list[str],
    sizes: list[int], mtimes: list[int],
    announce: Callable[[int, Sequence[Discovered]], list[Outgoing]] = one_each,
) -> Recorded:
    """Record stable sightings as ``discovered`` files, with the messages that announce
    them (``announce``: one each, or batches of small files) in the outbox, and forget the
    sightings, inside the caller's transaction. Versions already recorded are skipped."""
    check(None, Status.DISCOVERED, "discovered")
    async with conn.cursor(row_factory=args_row(Discovered)) as cur:
        await cur.execute(INSERT_DISCOVERED, {
            "server_id": server_id, "server_name": server_name, "paths": paths,
            "names": [posixpath.basename(p) for p in paths], "sizes": sizes, "mtimes": mtimes,
            "status": Status.DISCOVERED, "event": "discovered",
        })
        created = await cur.fetchall()
    messages = announce(server_id, created)
    await outbox.queue(conn, messages)
    return Recorded(created, messages)


async def record_upload(
    pool: Pool, *, file_id: UUID, remote_path: str, filename: str, size: int, sha256: str,
    md5: str, bucket: str, object_key: str, etag: str, created_at: datetime,
    details: dict[str, Any], then: Outgoing,
) -> FileRow:
    """Record an operator's upload, verified in the bucket already, as ``stored``, with
    ``then``, its ``FileStored``, in the outbox. ``created_at`` is the date its object key
    holds."""
    check(None, Status.STORED, "uploaded")
    async with pool.connection() as conn, conn.cursor(row_factory=file_row) as cur:
        await cur.execute(INSERT_UPLOADED, {
            "id": file_id, "remote_path": remote_path, "filename": filename, "size": size,
            "sha256": sha256, "md5": md5, "bucket": bucket, "object_key": object_key,
            "etag": etag, "created_at": created_at, "status": Status.STORED,
            "event": "uploaded", "details": Jsonb(details), **then.params(),
        })
        row = await cur.fetchone()
    assert row is not None  # INSERT ... RETURNING always yields the row
    return row
