"""Compare the bucket with the ``files`` table: what is stored that we don't know about,
and what we think is stored that isn't (or has the wrong size).

Both sides are streamed in key order and merged, so memory stays flat however many objects
there are: S3 lists keys in byte order, and the query sorts with the "C" collation to match.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from minio.error import S3Error

from infra.file_states import Status
from infra.postgres import Pool
from infra.storage import ObjectStore

_STORED_FILES = """
SELECT id, object_key, size FROM files
 WHERE status = ANY(%(stored)s) AND bucket = %(bucket)s
   AND object_key COLLATE "C" > %(after)s
 ORDER BY object_key COLLATE "C"
 LIMIT %(limit)s
"""

_STORED = [Status.STORED, Status.NOTIFIED]

BATCH = 1000
SAMPLE = 100


@dataclass
class AuditReport:
    bucket: str
    bucket_exists: bool = True
    objects: int = 0
    files: int = 0
    unknown_objects: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)
    size_mismatches: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {
        "unknown_objects": 0, "missing_objects": 0, "size_mismatches": 0})

    def _note(self, kind: str, item: Any) -> None:
        self.counts[kind] += 1
        sample = getattr(self, kind)
        if len(sample) < SAMPLE:
            sample.append(item)

    @property
    def clean(self) -> bool:
        return self.bucket_exists and not any(self.counts.values())


async def _stored_files(pool: Pool, bucket: str) -> AsyncIterator[dict[str, Any]]:
    after = ""
    while True:
        async with pool.connection() as conn:
            cur = await conn.execute(_STORED_FILES,
                                     {"bucket": bucket, "after": after, "limit": BATCH,
                                      "stored": _STORED})
            rows = await cur.fetchall()
        for row in rows:
            yield row
        if len(rows) < BATCH:
            return
        after = rows[-1]["object_key"]


def _objects(store: ObjectStore, report: AuditReport) -> Iterator[tuple[str, int]]:
    """The bucket's keys and sizes; none, noted on the report, if the bucket is gone (then
    every stored file is reported missing rather than the audit failing)."""
    try:
        for obj in store.client.list_objects(store.bucket, recursive=True):
            if obj.object_name is not None:
                yield obj.object_name, obj.size or 0
    except S3Error as exc:
        if exc.code != "NoSuchBucket":
            raise
        report.bucket_exists = False


_DONE = ("\U0010ffff", 0)  # sorts after every real key


async def audit(pool: Pool, store: ObjectStore) -> AuditReport:
    report = AuditReport(bucket=store.bucket)
    listing = _objects(store, report)

    def next_object() -> tuple[str, int]:
        return next(listing, _DONE)

    obj = await asyncio.to_thread(next_object)
    async for row in _stored_files(pool, store.bucket):
        report.files += 1
        key = row["object_key"]
        while obj[0].encode() < key.encode():
            report.objects += 1
            report._note("unknown_objects", obj[0])
            obj = await asyncio.to_thread(next_object)
        if obj[0] == key:
            report.objects += 1
            if obj[1] != row["size"]:
                report._note("size_mismatches", {"file_id": str(row["id"]), "key": key,
                                                 "expected": row["size"], "stored": obj[1]})
            obj = await asyncio.to_thread(next_object)
        else:
            report._note("missing_objects", key)
    while obj is not _DONE:
        report.objects += 1
        report._note("unknown_objects", obj[0])
        obj = await asyncio.to_thread(next_object)
    return report
