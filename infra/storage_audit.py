"""Compare the bucket with the ``files`` table: what is stored that we don't know about,
and what we think is stored that isn't (or has the wrong size).

S3 servers disagree on the order of a listing (MinIO and AWS list keys in byte order,
SeaweedFS one directory at a time, so ``acme/…`` before ``acme-eu/…``), so nothing here
depends on it. The stored files and then the listing are copied into temporary tables of
the audit's connection, the listing a page at a time, and PostgreSQL compares them. Memory
stays flat however big the bucket: this process holds one page of the listing and the
samples; the tables and the comparisons' joins spill to the database server's disk.
"""

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from minio.error import S3Error
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from infra.file_states import Status
from infra.postgres import Pool
from infra.storage import ObjectStore

# The files first: an object stored while the bucket is listed shows up as unknown, never
# a file as missing.
_SNAPSHOT_FILES = """
CREATE TEMPORARY TABLE audit_files AS
SELECT id, object_key, size FROM files
 WHERE status = ANY(%(stored)s) AND bucket = %(bucket)s AND object_key IS NOT NULL
"""
_CREATE_LISTING = """
CREATE TEMPORARY TABLE audit_objects (object_key text NOT NULL, size bigint NOT NULL)
"""
_COPY_LISTING = "COPY audit_objects (object_key, size) FROM STDIN"
_ANALYZE = "ANALYZE audit_files, audit_objects"
_DROP = "DROP TABLE IF EXISTS audit_files, audit_objects"
_COUNT_FILES = "SELECT count(*) AS n FROM audit_files"

# Each answers a sample in byte order, with the number of all its kind in every row.
_UNKNOWN = """
SELECT o.object_key, count(*) OVER () AS total FROM audit_objects o
 WHERE NOT EXISTS (SELECT FROM audit_files f WHERE f.object_key = o.object_key)
 ORDER BY o.object_key COLLATE "C" LIMIT %(sample)s
"""
_MISSING = """
SELECT f.object_key, count(*) OVER () AS total FROM audit_files f
 WHERE NOT EXISTS (SELECT FROM audit_objects o WHERE o.object_key = f.object_key)
 ORDER BY f.object_key COLLATE "C" LIMIT %(sample)s
"""
_WRONG_SIZE = """
SELECT f.id, f.object_key, f.size AS expected, o.size AS stored, count(*) OVER () AS total
  FROM audit_files f JOIN audit_objects o USING (object_key)
 WHERE f.size <> o.size
 ORDER BY f.object_key COLLATE "C" LIMIT %(sample)s
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

    @property
    def clean(self) -> bool:
        return self.bucket_exists and not any(self.counts.values())


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


def _next_page(listing: Iterator[tuple[str, int]]) -> list[tuple[str, int]]:
    return list(itertools.islice(listing, BATCH))


async def _copy_listing(conn: AsyncConnection[DictRow], store: ObjectStore,
                        report: AuditReport) -> None:
    listing = _objects(store, report)
    while page := await asyncio.to_thread(_next_page, listing):
        report.objects += len(page)
        async with conn.cursor() as cur, cur.copy(_COPY_LISTING) as copy:
            for row in page:
                await copy.write_row(row)


async def _sample(conn: AsyncConnection[DictRow], query: str) -> tuple[list[DictRow], int]:
    cur = await conn.execute(query, {"sample": SAMPLE})
    rows = await cur.fetchall()
    return rows, int(rows[0]["total"]) if rows else 0


async def _compare(conn: AsyncConnection[DictRow], report: AuditReport) -> None:
    cur = await conn.execute(_COUNT_FILES)
    counted = await cur.fetchone()
    report.files = int(counted["n"]) if counted else 0
    rows, report.counts["unknown_objects"] = await _sample(conn, _UNKNOWN)
    report.unknown_objects = [row["object_key"] for row in rows]
    rows, report.counts["missing_objects"] = await _sample(conn, _MISSING)
    report.missing_objects = [row["object_key"] for row in rows]
    rows, report.counts["size_mismatches"] = await _sample(conn, _WRONG_SIZE)
    report.size_mismatches = [
        {"file_id": str(row["id"]), "key": row["object_key"], "expected": row["expected"],
         "stored": row["stored"]} for row in rows]


async def audit(pool: Pool, store: ObjectStore) -> AuditReport:
    report = AuditReport(bucket=store.bucket)
    async with pool.connection() as conn:
        try:
            await conn.execute(_SNAPSHOT_FILES, {"bucket": store.bucket, "stored": _STORED})
            await conn.execute(_CREATE_LISTING)
            await _copy_listing(conn, store, report)
            await conn.execute(_ANALYZE)
            await _compare(conn, report)
        finally:
            if not conn.broken:  # a broken session took its temporary tables with it
                await conn.execute(_DROP)
    return report
