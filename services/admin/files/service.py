"""What the API and the pages both do with files: filters, retries, links, uploads.

Handlers stay thin; the rules (what a valid filter is, which files may be retried, how an
upload becomes a ``downloaded`` file) live here once.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.exceptions import ValidationException

from contracts import FileDownloaded, Stage
from infra import file_states
from infra.broker import StagePublisher
from infra.file_states import Status
from infra.postgres import Pool
from infra.storage import ObjectStore
from services.admin.files.queries import FileFilter
from services.admin.settings import AdminSettings
from services.admin.uploads import uploading

log = logging.getLogger("intake.admin.files")

MAX_QUERY = 200


def _utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are taken as UTC, which is what the pages show."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def file_filter(*, status: Status | None, server_id: int | None, q: str | None,
                since: datetime | None, until: datetime | None) -> FileFilter:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise ValidationException(
            "until must be later than since",
            extra=[{"key": "until", "message": "must be later than since", "source": "query"}],
        )
    if q is not None and "\x00" in q:  # no file name holds one, and PostgreSQL text cannot
        raise ValidationException(
            "q must not contain NUL",
            extra=[{"key": "q", "message": "must not contain NUL", "source": "query"}],
        )
    text = q.strip() if q else None
    return FileFilter(status=status, server_id=server_id, q=text or None, since=since,
                      until=until)


class NotStored(Exception):
    pass


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime
    bucket: str
    object_key: str


async def download_link(objects: ObjectStore, row: dict[str, Any], ttl_s: int) -> Link:
    """A presigned GET for a stored file's object, offering the original file name."""
    if row["stored_at"] is None or not row["object_key"] or not row["bucket"]:
        raise NotStored(f"file {row['id']} is {row['status']} and has no stored object yet")
    ttl = timedelta(seconds=ttl_s)
    disposition = f"attachment; filename*=UTF-8''{quote(row['filename'], safe='')}"
    url = await asyncio.to_thread(
        objects.client.presigned_get_object, row["bucket"], row["object_key"], expires=ttl,
        response_headers={"response-content-disposition": disposition},
    )
    return Link(url, datetime.now(UTC) + ttl, row["bucket"], row["object_key"])


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
