"""Aborts multipart uploads that no stage will complete, so their parts stop taking space.

A file that went missing mid-download leaves the parts its streamer sent; an upload stage
killed between completing an upload and forgetting its record leaves a row behind. The
parts of an unfinished upload are invisible in the bucket and kept by S3 servers until
aborted.
"""

import logging

from infra.postgres import Pool
from infra.storage import ObjectStore
from services.uploader import upload_records
from services.uploader.uploading import discard_upload

log = logging.getLogger(__name__)


async def abort_abandoned(pool: Pool, objects: ObjectStore) -> int:
    """Abort and forget every abandoned upload; returns how many."""
    records = await upload_records.abandoned(pool)
    for record in records:
        await discard_upload(pool, objects, record)
        log.info("aborted an abandoned multipart upload of %s", record.object_key,
                 extra={"file_id": str(record.file_id), "event": "upload_aborted"})
    return len(records)
