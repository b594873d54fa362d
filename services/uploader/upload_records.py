"""The ``multipart_uploads`` rows: which upload holds a file's parts, and who streams it.

A streamer (parts sent while the file downloads) holds ``streaming_until`` as its lease;
the upload stage proper waits for a live streamer to finish before it lists the parts and
completes the upload, so the two never send the same parts.
"""

import asyncio
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from infra.file_states import Status
from infra.postgres import Pool

# Taken only while the file is still being downloaded, and only from nobody or from a
# streamer whose lease ran out.
_STILL_DOWNLOADING = [Status.DISCOVERED, Status.DOWNLOADING]
_CLAIM_STREAMING = """
INSERT INTO multipart_uploads (file_id, object_key, part_size, streaming_until, streamer)
SELECT id, %(key)s, %(part_size)s, now() + make_interval(secs => %(lease)s), %(token)s
  FROM files WHERE id = %(id)s AND status = ANY(%(downloading)s)
    ON CONFLICT (file_id) DO UPDATE
   SET streaming_until = EXCLUDED.streaming_until, streamer = EXCLUDED.streamer
 WHERE multipart_uploads.streaming_until IS NULL OR multipart_uploads.streaming_until < now()
RETURNING *
"""

# Renews the streamer's lease and tells it where the file stands, in one round trip.
_KEEP_STREAMING = """
UPDATE multipart_uploads m SET streaming_until = now() + make_interval(secs => %(lease)s)
  FROM files f
 WHERE m.file_id = %(id)s AND f.id = m.file_id AND m.streamer = %(token)s
   AND m.streaming_until IS NOT NULL
RETURNING f.status
"""

_SAVE = """
INSERT INTO multipart_uploads (file_id, object_key, upload_id, part_size, spool_inode)
VALUES (%(id)s, %(key)s, %(upload_id)s, %(part_size)s, %(inode)s)
    ON CONFLICT (file_id) DO UPDATE
   SET object_key = EXCLUDED.object_key, upload_id = EXCLUDED.upload_id,
       part_size = EXCLUDED.part_size, spool_inode = EXCLUDED.spool_inode
"""

# Uploads no stage will complete: the file went missing, or it is stored by another
# upload. A failed file keeps its upload (and its spool copy) for an operator's retry.
_DONE_WITH = [Status.MISSING, Status.STORED, Status.NOTIFIED]
_ABANDONED = """
SELECT m.* FROM multipart_uploads m
  JOIN files f ON f.id = m.file_id
 WHERE f.status = ANY(%(done_with)s)
   AND (m.streaming_until IS NULL OR m.streaming_until < now())
 LIMIT %(limit)s
"""

WAIT_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class UploadRecord:
    file_id: UUID
    object_key: str
    upload_id: str | None
    part_size: int
    spool_inode: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "UploadRecord":
        return cls(row["file_id"], row["object_key"], row["upload_id"], row["part_size"],
                   row["spool_inode"])


async def claim_streaming(pool: Pool, file_id: UUID, *, token: UUID, key: str,
                          part_size: int, lease_seconds: int) -> UploadRecord | None:
    """Become the file's streamer under ``token``; None if the file is not downloading or
    has a live streamer."""
    async with pool.connection() as conn:
        cur = await conn.execute(_CLAIM_STREAMING, {"id": file_id, "key": key,
                                                    "part_size": part_size,
                                                    "lease": lease_seconds, "token": token,
                                                    "downloading": _STILL_DOWNLOADING})
        row = await cur.fetchone()
    return UploadRecord.from_row(row) if row else None


async def keep_streaming(pool: Pool, file_id: UUID, *, token: UUID,
                         lease_seconds: int) -> str | None:
    """Renew the streamer's lease; the file's status, or None if the lease was taken away
    (ended, or taken over by another streamer once it had run out)."""
    async with pool.connection() as conn:
        cur = await conn.execute(_KEEP_STREAMING, {"id": file_id, "lease": lease_seconds,
                                                   "token": token})
        row = await cur.fetchone()
    return row["status"] if row else None


async def end_streaming(pool: Pool, file_id: UUID, *, token: UUID) -> None:
    """Give the lease up, unless another streamer holds it by now."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE multipart_uploads SET streaming_until = NULL, streamer = NULL"
            " WHERE file_id = %s AND streamer = %s", (file_id, token))


async def wait_for_streamer(pool: Pool, file_id: UUID) -> UploadRecord | None:
    """The file's upload record once no live streamer holds it (None: there is none).

    The streamer usually needs a moment after the download is recorded to send the last
    parts; a dead one is waited for until its lease runs out.
    """
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT *, streaming_until > now() AS streaming FROM multipart_uploads"
                " WHERE file_id = %s", (file_id,))
            row = await cur.fetchone()
        if row is None:
            return None
        if not row["streaming"]:
            return UploadRecord.from_row(row)
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def get(pool: Pool, file_id: UUID) -> UploadRecord | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM multipart_uploads WHERE file_id = %s",
                                 (file_id,))
        row = await cur.fetchone()
    return UploadRecord.from_row(row) if row else None


async def save(pool: Pool, file_id: UUID, *, key: str, upload_id: str, part_size: int,
               spool_inode: int) -> None:
    async with pool.connection() as conn:
        await conn.execute(_SAVE, {"id": file_id, "key": key, "upload_id": upload_id,
                                   "part_size": part_size, "inode": spool_inode})


async def forget(pool: Pool, file_id: UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM multipart_uploads WHERE file_id = %s", (file_id,))


async def abandoned(pool: Pool, *, limit: int = 100) -> list[UploadRecord]:
    async with pool.connection() as conn:
        cur = await conn.execute(_ABANDONED, {"limit": limit, "done_with": _DONE_WITH})
        rows = await cur.fetchall()
    return [UploadRecord.from_row(row) for row in rows]
