"""The uploader's subscribers: claim, store and verify, record, drop the spool copy, announce;
and stream a large file's parts while it still downloads (services/uploader/streaming.py)."""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from faststream import Context
from minio.error import MinioException
from urllib3.exceptions import HTTPError

from contracts import FileDownloaded, FileDownloading, FileStored, Stage
from infra import file_states
from infra.file_states import Claim, FileWithServer, Status
from infra.object_keys import object_key
from infra.outbox import Outgoing
from infra.retries import retry_later
from infra.runtime import StageDeps
from infra.storage import ObjectStore, StorageError
from services.uploader import upload_records
from services.uploader.settings import UploaderSettings
from services.uploader.spool_reader import SpoolNotGrowing, StreamAbandoned
from services.uploader.streaming import stream
from services.uploader.uploading import (
    Stored,
    discard_upload,
    store,
    store_in_parts,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploaderDeps(StageDeps):
    """``spool_id`` names this host's spool: the uploader takes only copies held there.
    ``puts`` are the threads a batch's PUTs run on (``batch_uploads`` of them)."""

    settings: UploaderSettings
    spool_id: str
    objects: ObjectStore
    puts: ThreadPoolExecutor

    @property
    def claiming(self) -> Claim:
        """A downloaded file whose copy is in this host's spool, for the bucket."""
        return Claim(expect=Status.DOWNLOADED, to=Status.STORING,
                     lease_seconds=self.settings.lease_seconds, event="upload_started",
                     from_spool=self.spool_id)


async def stream_downloading(msg: FileDownloading,
                             deps: Annotated[UploaderDeps, Context()]) -> None:
    """The ``downloading`` stage's subscriber: a large file's parts go to storage while
    its download goes on."""
    with deps.metrics.moving("out", msg.size):
        outcome = await stream(deps.pool, deps.objects, deps.settings, msg.file_id,
                               spool_id=deps.spool_id)
    if outcome is not None:
        deps.metrics.transitions.labels(outcome).inc()


async def upload_downloaded(msg: FileDownloaded,
                            deps: Annotated[UploaderDeps, Context()]) -> None:
    settings, objects = deps.settings, deps.objects
    row = await file_states.claim(deps.pool, msg.file_id, deps.claiming,
                                  bucket=objects.bucket)
    if row is None:
        log.debug("not claimable, ignored", extra={"file_id": str(msg.file_id)})
        return
    spooled = settings.spool.complete(msg.file_id)
    if not spooled.exists():
        await copy_lost(deps, row)
        return
    key = object_key(row)
    try:
        async with file_states.lease_kept(deps.pool, [msg.file_id], status=Status.STORING,
                                          lease_seconds=settings.lease_seconds) as lost:
            with deps.metrics.moving("out", row.size):
                result = await _store(deps, row, spooled, key, lost)
    except Exception as exc:
        if not expected_failure(exc):
            log.exception("unexpected upload error", extra={"file_id": str(msg.file_id)})
        await retry_later(deps, msg, stage=Stage.DOWNLOADED, claimed=Status.STORING,
                          back_to=Status.DOWNLOADED, event="upload_failed", error=exc,
                          transient=True, attempt=row.attempts)
        return
    if lost.is_set():
        # Another worker claimed the file meanwhile; the object is the same either way.
        log.info("claim lost during the upload; the new owner records it",
                 extra={"file_id": str(msg.file_id)})
        return
    stored = Outgoing(
        Stage.STORED, FileStored(file_id=msg.file_id, bucket=objects.bucket, object_key=key),
        f"{msg.file_id}:{Stage.STORED}",
    )
    done = await file_states.finish(
        deps.pool, msg.file_id, expect=Status.STORING, to=Status.STORED, event="stored",
        columns={"bucket": objects.bucket, "object_key": key, "etag": result.etag,
                 "stored_at": datetime.now(UTC), "spool_losses": 0},
        then=stored, bucket=objects.bucket, object_key=key, etag=result.etag, size=row.size,
        seconds=round(result.seconds, 3), skipped_identical=result.skipped,
        parts_already_stored=result.parts_already_stored, bytes_sent=result.bytes_sent,
        mb_per_s=result.mb_per_s,
    )
    if done is None:
        return
    deps.metrics.transitions.labels("stored").inc()
    deps.metrics.bytes.labels("out").inc(row.size)
    deps.metrics.duration.labels("upload").observe(result.seconds)
    await deps.outbox.send(stored)
    # Only now that the stored state is committed, and after the notice went on: freeing
    # a large file's blocks takes the filesystem a while (docs/performance.md). In a
    # thread, so the loop goes on meanwhile; if this process dies first, the
    # downloader's spool janitor removes the copy of a stored file.
    await asyncio.to_thread(spooled.unlink, missing_ok=True)


def expected_failure(exc: BaseException) -> bool:
    """Whether an upload failed the way storage, the network or the spool fail; anything
    else is logged with its traceback, a bug to look at (the file is retried either way)."""
    return isinstance(exc, StorageError | MinioException | HTTPError | OSError
                      | SpoolNotGrowing | StreamAbandoned)


async def _store(deps: UploaderDeps, row: FileWithServer, spooled: Path, key: str,
                 lost: threading.Event) -> Stored:
    """In recorded parts (continuing what a streamer or an earlier attempt sent) from
    ``stream_upload_min_bytes`` on; in one go below."""
    common = {"size": row.size, "sha256": row.sha256, "md5": row.md5,
              "retrying": row.attempts > 1}
    if deps.settings.large_file(row.size):
        return await store_in_parts(deps.pool, deps.objects, spooled, key,
                                    file_id=row.id, abort=lost,
                                    progress_seconds=deps.settings.progress_seconds, **common)
    return await asyncio.to_thread(store, deps.objects, spooled, key, **common)


async def copy_lost(deps: UploaderDeps, row: FileWithServer) -> None:
    """The row says this spool holds the copy, but it is not there (a wiped disk, a copy
    deleted by hand): the copy is lost, the file downloaded again by any host. Parts sent
    from the old copy are dropped: the new copy starts a new upload."""
    if (record := await upload_records.get(deps.pool, row.id)) is not None:
        await discard_upload(deps.pool, deps.objects, record)
    lost = await file_states.lose_copy(
        deps.pool, row.id, expect=(Status.STORING,), spool=deps.spool_id,
        reason=f"copy not found in spool {deps.spool_id}",
        max_losses=deps.settings.max_spool_losses,
    )
    if lost is not None and lost.status == Status.DISCOVERED:
        await deps.outbox.send(file_states.outgoing_for(lost))
