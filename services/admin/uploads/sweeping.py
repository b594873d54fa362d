"""Multipart uploads an admin began and no admin will finish: its process died mid-upload.
(A refused upload, a client gone or S3 failing aborts its upload at once.) Their parts are
invisible in the bucket and kept by S3 until aborted. Every admin replica sweeps; an
upload counts as abandoned only long after it began, so a slow one is left alone."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from infra.object_keys import UPLOADS
from infra.storage import ObjectStore

log = logging.getLogger("intake.admin.uploads")


async def abort_abandoned(objects: ObjectStore, *, older_than: timedelta) -> int:
    """Abort the open multipart uploads under ``upload/`` begun more than ``older_than``
    ago; returns how many."""
    cutoff = datetime.now(UTC) - older_than
    uploads = await asyncio.to_thread(objects.open_uploads, f"{UPLOADS}/")
    abandoned = [u for u in uploads if u.initiated is not None and u.initiated < cutoff]
    for upload in abandoned:
        await asyncio.to_thread(objects.abort_upload, upload.key, upload.upload_id)
        log.info("aborted an abandoned upload of %s, begun %s", upload.key, upload.initiated,
                 extra={"event": "upload_aborted"})
    return len(abandoned)


async def sweep_every(objects: ObjectStore, *, seconds: float, older_than: timedelta) -> None:
    """:func:`abort_abandoned` every ``seconds``, for good; a failed sweep waits for the next."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await abort_abandoned(objects, older_than=older_than)
        except Exception:
            log.warning("the sweep of abandoned uploads failed", exc_info=True)
