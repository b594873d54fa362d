"""Multipart uploads that outlive one attempt, against the run's real S3 server and database:
parts sent from a spool file that is still being written, an upload continued by a later
attempt, dropped when the spool copy is a new one, and aborted when nothing needs it."""

import asyncio
import hashlib
import threading
import uuid
from pathlib import Path

import pytest

from infra.spool.paths import Spool
from infra.storage import PART_SIZE, ObjectStore, UploadGone
from infra.transfer_progress import Meter
from services.uploader import upload_records
from services.uploader.janitor import abort_abandoned
from services.uploader.parts import PartPlan, send_parts
from services.uploader.spool_reader import SpoolFile
from services.uploader.uploading import open_upload, store_in_parts
from tests.harness import sha256_of_object
from tests.processes import wait_for

SIZE = 5 * PART_SIZE + 12345  # six parts, the last one short


@pytest.fixture
def objects(settings) -> ObjectStore:
    store = ObjectStore(settings.model_copy(update={"s3_bucket": f"mp-{uuid.uuid4().hex[:10]}"}))
    store.ensure_bucket()
    return store


@pytest.fixture
def data() -> bytes:
    return uuid.uuid4().bytes * (SIZE // 16) + b"x" * (SIZE % 16)


async def _file(pool, status: str = "downloading") -> uuid.UUID:
    """A files row for the upload records to belong to (an admin upload: no server to poll,
    and no lease, so no reconciler of this run re-drives it)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO files (source, remote_path, filename, size, remote_mtime, status)"
            " VALUES ('upload', %s, 'big.bin', %s, 0, %s) RETURNING id",
            (f"/mp/{uuid.uuid4().hex}", SIZE, status))
        row = await cur.fetchone()
    return row["id"]


async def test_parts_are_sent_while_the_spool_file_is_still_growing(pool, objects, data,
                                                                    tmp_path: Path) -> None:
    file_id = await _file(pool)
    part, final = Spool(tmp_path).partial(file_id), Spool(tmp_path).complete(file_id)
    half = int(2.5 * PART_SIZE)
    part.write_bytes(data[:half])
    plan, key = PartPlan.for_size(SIZE), f"mp/{file_id}/big.bin"
    with SpoolFile.open((part, final), abort=threading.Event(), stall_seconds=60) as spool:
        upload_id, stored = await open_upload(pool, objects, file_id, key=key, plan=plan,
                                              spool=spool, record=None, checksums=None)
        assert stored == {}
        meter = Meter()
        sending = asyncio.create_task(asyncio.to_thread(
            send_parts, objects, key, upload_id, plan, spool, stored, meter=meter))

        # The first two parts reach the server while the file holds only 2.5 parts' bytes.
        await asyncio.to_thread(wait_for, lambda: len(objects.uploaded_parts(key, upload_id)) >= 2,
                                timeout=30, what="parts sent from the growing file")
        assert not sending.done()
        with part.open("ab") as out:
            out.write(data[half:])
        part.rename(final)  # as the downloader does when the copy is complete
        parts = await sending

    assert [p.number for p in parts] == list(range(1, plan.count + 1))
    assert meter.read() == (SIZE, SIZE)  # every part counted once it was stored
    objects.complete_upload(key, upload_id, parts)
    digest = hashlib.sha256(data).hexdigest()
    objects.tag_checksums(key, sha256=digest, md5=hashlib.md5(data).hexdigest())
    assert sha256_of_object(objects.client, objects.bucket, key) == digest
    stored_object = objects.stat(key)
    assert stored_object is not None and stored_object.sha256 == digest  # from the tags


async def test_a_later_attempt_continues_the_recorded_upload(pool, objects, data,
                                                             tmp_path: Path) -> None:
    file_id = await _file(pool, status="storing")
    path = tmp_path / str(file_id)
    path.write_bytes(data)
    plan, key = PartPlan.for_size(SIZE), f"mp/{file_id}/big.bin"
    with SpoolFile.open((path,), abort=threading.Event(), stall_seconds=0) as spool:
        upload_id, _ = await open_upload(pool, objects, file_id, key=key, plan=plan,
                                         spool=spool, record=None, checksums=None)
        for number in (1, 2, 3):  # an attempt that died after three parts
            objects.put_part(key, upload_id, number, spool.read(*plan.span(number)))

    digest, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    result = await store_in_parts(pool, objects, path, key, file_id=file_id, size=SIZE,
                                  sha256=digest, md5=md5, retrying=True,
                                  abort=threading.Event(), progress_seconds=2.0)

    assert result.parts_already_stored == 3 and not result.skipped
    assert result.bytes_sent == SIZE - 3 * PART_SIZE
    assert sha256_of_object(objects.client, objects.bucket, key) == digest
    assert await upload_records.get(pool, file_id) is None  # completed: nothing to continue
    again = await store_in_parts(pool, objects, path, key, file_id=file_id, size=SIZE,
                                 sha256=digest, md5=md5, retrying=True,
                                 abort=threading.Event(), progress_seconds=2.0)
    assert again.skipped and again.etag == result.etag


@pytest.mark.parametrize("changed", ["spool copy", "object key"])
async def test_recorded_parts_are_not_reused_after_a_change_of(changed: str, pool, objects,
                                                               data, tmp_path: Path) -> None:
    """Parts read from an earlier spool copy (another inode), or stored under another key
    (the server was renamed since), are dropped: the upload starts afresh."""
    file_id = await _file(pool, status="storing")
    plan, key = PartPlan.for_size(SIZE), f"mp/new-name/{file_id}/big.bin"
    path = tmp_path / str(file_id)
    if changed == "spool copy":
        old_path, old_key = tmp_path / "old-copy", key
        old_path.write_bytes(b"\0" * SIZE)  # what a copy that was lost held
    else:
        old_path, old_key = path, f"mp/old-name/{file_id}/big.bin"
    path.write_bytes(data)
    with SpoolFile.open((old_path,), abort=threading.Event(), stall_seconds=0) as spool:
        old_upload, _ = await open_upload(pool, objects, file_id, key=old_key, plan=plan,
                                          spool=spool, record=None, checksums=None)
        objects.put_part(old_key, old_upload, 1, spool.read(*plan.span(1)))

    digest = hashlib.sha256(data).hexdigest()
    result = await store_in_parts(pool, objects, path, key, file_id=file_id, size=SIZE,
                                  sha256=digest, md5=hashlib.md5(data).hexdigest(),
                                  retrying=False, abort=threading.Event(),
                                  progress_seconds=2.0)

    assert result.parts_already_stored == 0
    assert sha256_of_object(objects.client, objects.bucket, key) == digest
    with pytest.raises(UploadGone):
        objects.uploaded_parts(old_key, old_upload)


async def test_a_live_streamer_is_waited_for_and_a_second_one_refused(pool, objects) -> None:
    file_id = await _file(pool)
    mine, other = uuid.uuid4(), uuid.uuid4()
    first = await upload_records.claim_streaming(pool, file_id, token=mine, key="k",
                                                 part_size=PART_SIZE, lease_seconds=60)
    second = await upload_records.claim_streaming(pool, file_id, token=other, key="k",
                                                  part_size=PART_SIZE, lease_seconds=60)
    assert first is not None and second is None
    assert await upload_records.keep_streaming(pool, file_id, token=other,
                                               lease_seconds=60) is None
    await upload_records.end_streaming(pool, file_id, token=other)  # not its lease to end
    with pytest.raises(TimeoutError):  # several polls, and still waiting
        await asyncio.wait_for(upload_records.wait_for_streamer(pool, file_id),
                               timeout=5 * upload_records.WAIT_POLL_SECONDS)
    assert await upload_records.keep_streaming(pool, file_id, token=mine,
                                               lease_seconds=60) == "downloading"
    await upload_records.end_streaming(pool, file_id, token=mine)
    record = await asyncio.wait_for(upload_records.wait_for_streamer(pool, file_id), timeout=10)
    assert record is not None and record.file_id == file_id


async def test_uploads_of_files_that_went_missing_are_aborted(pool, objects) -> None:
    file_id = await _file(pool, status="missing")
    key = f"mp/{file_id}/big.bin"
    upload_id = objects.start_upload(key, checksums=None)
    objects.put_part(key, upload_id, 1, b"orphaned part")
    await upload_records.save(pool, file_id, key=key, upload_id=upload_id,
                              part_size=PART_SIZE, spool_inode=1)

    assert await abort_abandoned(pool, objects) >= 1

    with pytest.raises(UploadGone):
        objects.uploaded_parts(key, upload_id)
    assert await upload_records.get(pool, file_id) is None

