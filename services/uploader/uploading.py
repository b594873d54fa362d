"""Storing one spool file under its deterministic key, verified, never twice.

Small files go up in one call (minio's own multipart for anything over a part). Files of
at least ``stream_upload_min_bytes`` go up as a multipart upload recorded in the database,
whose parts a streamer may already have sent while the file downloaded, and which a later
attempt continues instead of starting over.
"""

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from infra import transfer_progress
from infra.postgres import Pool
from infra.storage import ObjectMismatch, ObjectStore, UploadedPart, UploadGone
from infra.transfer_progress import Transfer
from services.uploader import upload_records
from services.uploader.parts import PartPlan, send_parts
from services.uploader.spool_reader import SpoolFile
from services.uploader.upload_records import UploadRecord


@dataclass(frozen=True)
class Stored:
    key: str
    etag: str
    seconds: float
    skipped: bool
    parts_already_stored: int = 0
    bytes_sent: int = 0  # by this attempt: not what a streamer or an earlier one sent

    @property
    def mb_per_s(self) -> float | None:
        if not self.bytes_sent or self.seconds <= 0:
            return None
        return round(self.bytes_sent / 1e6 / self.seconds, 2)


def identical(objects: ObjectStore, key: str, *, size: int, sha256: str) -> str | None:
    """The ETag of an object already stored under ``key`` with this size and sha256."""
    existing = objects.stat(key)
    if existing is not None and existing.size == size and existing.sha256 == sha256:
        return existing.etag
    return None


def store(objects: ObjectStore, path: Path, key: str, *, size: int, sha256: str,
          md5: str, retrying: bool) -> Stored:
    """Upload unless the identical object is already there; verify either way. In a thread.

    Only a retry can find the object there (the key holds the file id and only this stage
    writes it), so a first attempt saves the request that looks: a round trip per file.
    """
    started = time.monotonic()
    if retrying and (etag := identical(objects, key, size=size, sha256=sha256)):
        return Stored(key, etag, time.monotonic() - started, skipped=True)
    if path.stat().st_size != size:
        raise ObjectMismatch(f"spool file has {path.stat().st_size} bytes, expected {size}")
    etag = objects.put_file(path, key, sha256=sha256, md5=md5)
    etag = objects.verify(key, size=size, md5=md5, etag=etag)
    return Stored(key, etag, time.monotonic() - started, skipped=False, bytes_sent=size)


async def discard_upload(pool: Pool, objects: ObjectStore, record: UploadRecord) -> None:
    """Abort a recorded upload (its parts go) and forget it."""
    if record.upload_id is not None:
        await asyncio.to_thread(objects.abort_upload, record.object_key, record.upload_id)
    await upload_records.forget(pool, record.file_id)


async def open_upload(pool: Pool, objects: ObjectStore, file_id: UUID, *, key: str,
                      plan: PartPlan, spool: SpoolFile, record: UploadRecord | None,
                      checksums: tuple[str, str] | None) -> tuple[str, dict[int, UploadedPart]]:
    """The upload to send the file's parts to, and the parts it holds already.

    The recorded upload is continued when its parts were read from this very spool file
    (same inode) under the same key and part size; otherwise it is aborted and a new one
    begun and recorded before any part is sent, so that a crash can continue it.
    """
    if record is not None and record.upload_id is not None:
        if (record.object_key, record.part_size, record.spool_inode) == (
                key, plan.part_size, spool.inode):
            try:
                parts = await asyncio.to_thread(objects.uploaded_parts, key, record.upload_id)
            except UploadGone:
                pass
            else:
                return record.upload_id, parts
        else:
            await asyncio.to_thread(objects.abort_upload, record.object_key, record.upload_id)
    upload_id = await asyncio.to_thread(objects.start_upload, key, checksums=checksums)
    await upload_records.save(pool, file_id, key=key, upload_id=upload_id,
                              part_size=plan.part_size, spool_inode=spool.inode)
    return upload_id, {}


async def store_in_parts(pool: Pool, objects: ObjectStore, path: Path, key: str, *,
                         file_id: UUID, size: int, sha256: str, md5: str, retrying: bool,
                         abort: threading.Event, progress_seconds: float) -> Stored:
    """Complete the file's recorded multipart upload (waiting for its streamer to finish),
    sending the parts it lacks from the complete spool file, its progress recorded every
    ``progress_seconds``; verify and tag the object."""
    started = time.monotonic()
    if retrying and (etag := await asyncio.to_thread(identical, objects, key, size=size,
                                                     sha256=sha256)):
        await upload_records.forget(pool, file_id)
        return Stored(key, etag, time.monotonic() - started, skipped=True)
    plan = PartPlan.for_size(size)
    record = await upload_records.wait_for_streamer(pool, file_id)
    with SpoolFile.open((path,), abort=abort, stall_seconds=0) as spool:
        if (spooled := spool.size) != size:
            raise ObjectMismatch(f"spool file has {spooled} bytes, expected {size}")
        upload_id, already = await open_upload(pool, objects, file_id, key=key, plan=plan,
                                               spool=spool, record=record,
                                               checksums=(sha256, md5))

        # After the streamer: it records the upload's progress until then.
        async with transfer_progress.reporting(pool, file_id, Transfer.UPLOAD, total=size,
                                               every=progress_seconds) as meter:

            def complete() -> str:
                parts = send_parts(objects, key, upload_id, plan, spool, already, meter=meter)
                etag = objects.complete_upload(key, upload_id, parts)
                objects.tag_checksums(key, sha256=sha256, md5=md5)
                return objects.verify(key, size=size, md5=md5, etag=etag)

            etag = await asyncio.to_thread(complete)
    await upload_records.forget(pool, file_id)
    missing = plan.missing(already)
    return Stored(key, etag, time.monotonic() - started, skipped=False,
                  parts_already_stored=plan.count - len(missing),
                  bytes_sent=sum(plan.span(n)[1] for n in missing))
