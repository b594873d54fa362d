"""What a job request reads, checked before the job is queued: the bucket is one jobs may
read and the object is there, the stored file exists and is stored, a local path stays
under the root. The processor checks again when it opens the source (the admin may not
see the processor's disk: then only the path's form is checked here)."""

import asyncio
from typing import Any
from uuid import UUID

from minio.error import S3Error

from infra.job_sources import SourceError, local_path, path_form
from infra.postgres import Pool
from infra.settings import JobSourceSettings
from infra.storage import ObjectStore
from services.admin.jobs.schemas import JobIn

_STORED_FILE = """
SELECT bucket, object_key FROM files
 WHERE id = %(id)s AND status IN ('stored', 'notified') AND object_key IS NOT NULL"""


class SourceRejected(ValueError):
    """The request names a source no job may read: 422 with this message."""


class FileNotStored(LookupError):
    """No stored file has the id: 404."""


async def job_source(body: JobIn, *, pool: Pool, storage: ObjectStore,
                     settings: JobSourceSettings) -> dict[str, Any]:
    """The job's ``source`` column for the request, once checked."""
    if body.file_id is not None:
        return await stored_file_source(pool, body.file_id)
    if body.source == "s3":
        assert body.bucket is not None and body.key is not None  # JobIn checked
        if body.bucket not in settings.job_buckets:
            raise SourceRejected(f"jobs may not read bucket {body.bucket!r}"
                                 " (INTAKE_JOBS_BUCKETS lists the ones they may)")
        await asyncio.to_thread(_object_exists, storage, body.bucket, body.key)
        return {"source": "s3", "bucket": body.bucket, "key": body.key}
    assert body.path is not None
    try:
        path_form(body.path)
        root = settings.jobs_local_root
        if root is None:
            raise SourceRejected("jobs read no local files here (INTAKE_JOBS_LOCAL_ROOT is"
                                 " not set)")
        if root.is_dir():  # the processor's root is visible here: check the file as well
            await asyncio.to_thread(local_path, root, body.path)
    except SourceError as exc:
        raise SourceRejected(str(exc)) from exc
    return {"source": "local", "path": body.path}


async def stored_file_source(pool: Pool, file_id: UUID) -> dict[str, Any]:
    """The source of a job on a stored file: its object."""
    async with pool.connection() as conn:
        cur = await conn.execute(_STORED_FILE, {"id": file_id})
        row = await cur.fetchone()
    if row is None:
        raise FileNotStored(f"no stored file with id {file_id}")
    return {"source": "s3", "bucket": row["bucket"], "key": row["object_key"]}


def _object_exists(storage: ObjectStore, bucket: str, key: str) -> None:
    try:
        storage.client.stat_object(bucket, key)
    except ValueError as exc:  # minio's own check of the name
        raise SourceRejected(f"{key!r} is no object name: {exc}") from None
    except S3Error as exc:
        if exc.code in {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"}:
            raise SourceRejected(f"no object {key!r} in bucket {bucket!r}") from None
        raise
