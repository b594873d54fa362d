"""An upload through the API or the form: streamed into the bucket, recorded as ``stored``,
handed to the notifier. No other stage touches it, so it needs no uploader and no spool."""

import asyncio
import logging
from typing import Any

from litestar import Request

from contracts import FileStored, Stage
from infra import file_states
from infra.file_states import Status
from infra.outbox import Outbox, Outgoing
from infra.postgres import Pool
from infra.storage import ObjectStore, part_size
from services.admin.auth.csrf import CsrfCheck
from services.admin.settings import AdminSettings
from services.admin.uploads import uploading
from services.admin.uploads.storing import STORAGE_ERRORS

log = logging.getLogger("intake.admin.uploads")


async def accept_upload(request: Request[Any, Any, Any], *, pool: Pool,
                        outbox: Outbox, objects: ObjectStore,
                        settings: AdminSettings, csrf: CsrfCheck | None = None) -> dict[str, Any]:
    """Stream the upload into the bucket, record it as ``stored``, announce it."""
    received = await uploading.receive(
        request, objects=objects, max_bytes=settings.max_upload_bytes, csrf=csrf,
        # Parts as large as 10,000 of them need for the largest upload allowed.
        part_size=part_size(settings.max_upload_bytes, smallest=settings.upload_part_bytes),
    )
    stored = received.stored
    announce = Outgoing(
        Stage.STORED,
        FileStored(file_id=received.file_id, bucket=objects.bucket, object_key=stored.key),
        f"{received.file_id}:{Stage.STORED}",
    )
    try:
        row = await file_states.record_upload(
            pool, file_id=received.file_id, remote_path=received.original_name,
            filename=received.filename, size=stored.size, sha256=stored.sha256,
            md5=stored.md5, bucket=objects.bucket, object_key=stored.key, etag=stored.etag,
            created_at=received.created_at, details=received.details, then=announce,
        )
    except BaseException:
        await _drop_unrecorded(objects, stored.key)
        raise
    log.info("uploaded", extra={"file_id": str(row.id), "event": "uploaded",
                                "status": Status.STORED})
    await outbox.send(announce)
    return {"id": row.id, "status": row.status, "filename": row.filename, "size": row.size,
            "sha256": row.sha256, "md5": row.md5}


async def _drop_unrecorded(objects: ObjectStore, key: str) -> None:
    """An object without its row is one the storage audit would report: remove it."""
    try:
        await asyncio.to_thread(objects.remove, key)
    except STORAGE_ERRORS:
        log.warning("the object of an upload that could not be recorded stays: %s", key,
                    exc_info=True)
