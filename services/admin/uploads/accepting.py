"""An upload through the API or the form: streamed into the spool, recorded as
``downloaded``, handed to the uploader."""

import logging
from typing import Any

from litestar import Request

from contracts import FileDownloaded, Stage
from infra import file_states
from infra.broker import StagePublisher
from infra.file_states import Status
from infra.postgres import Pool
from services.admin.settings import AdminSettings
from services.admin.uploads import uploading

log = logging.getLogger("intake.admin.uploads")


async def accept_upload(request: Request[Any, Any, Any], *, pool: Pool,
                        publisher: StagePublisher, settings: AdminSettings) -> dict[str, Any]:
    """Stream the upload to the spool, record it as ``downloaded``, hand it to the uploader."""
    received = await uploading.receive(
        request, spool=settings.spool, max_bytes=settings.max_upload_bytes,
        reserve_bytes=settings.spool_reserve_bytes,
    )
    try:
        row = await file_states.record_upload(
            pool, file_id=received.file_id, remote_path=received.original_name,
            filename=received.filename, size=received.size, sha256=received.sha256,
            md5=received.md5, details=received.details,
        )
    except BaseException:
        settings.spool.complete(received.file_id).unlink(missing_ok=True)
        raise
    log.info("uploaded", extra={"file_id": str(received.file_id), "event": "uploaded",
                                "status": Status.DOWNLOADED})
    message = FileDownloaded(file_id=received.file_id, size=received.size,
                             sha256=received.sha256, md5=received.md5)
    try:
        await publisher.send(Stage.DOWNLOADED, message,
                             message_id=f"{received.file_id}:{Stage.DOWNLOADED}")
    except Exception:  # committed as downloaded: the reconciler re-sends it
        log.warning("upload %s recorded but not announced; the reconciler will resend",
                    received.file_id, exc_info=True, extra={"file_id": str(received.file_id)})
    return {"id": row.id, "status": row.status, "filename": row.filename, "size": row.size,
            "sha256": row.sha256, "md5": row.md5}
