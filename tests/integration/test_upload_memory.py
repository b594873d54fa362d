"""The uploader's S3 copy holds a few parts in memory, never the file, and is verified."""

import hashlib
import os
import threading
import tracemalloc
import uuid
from pathlib import Path

from infra.storage import PARALLEL_PARTS, PART_SIZE, ObjectStore
from infra.transfer_progress import Meter
from services.uploader.parts import PartPlan, send_parts
from services.uploader.spool_reader import SpoolFile
from services.uploader.uploading import store
from tests.harness import cached_bytes, sha256_of_object, write_random


def test_a_large_upload_holds_a_bounded_amount_in_memory(settings, tmp_path: Path) -> None:
    objects = ObjectStore(settings.model_copy(update={"s3_bucket": f"mem-{uuid.uuid4().hex[:10]}"}))
    objects.ensure_bucket()
    size = 96 * 1024 * 1024  # 12 parts: several rounds of the parallel upload
    spooled = tmp_path / "big.bin"
    digest = write_random(spooled, size)
    md5 = hashlib.md5(spooled.read_bytes(), usedforsecurity=False).hexdigest()

    tracemalloc.start()
    try:
        result = store(objects, spooled, "mem/big.bin", size=size, sha256=digest, md5=md5,
                       retrying=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert not result.skipped
    stored = objects.stat("mem/big.bin")
    assert stored is not None and stored.size == size and stored.sha256 == digest
    # The parts in flight, the one being read, and a copy of one for signing, plus 2 MiB
    # for what is not a part (HTTP buffers, responses; once measured 57 KB over the parts
    # alone): not 96 MiB.
    bound = (PARALLEL_PARTS + 3) * PART_SIZE + 2 * 1024 * 1024
    print(f"upload peak traced memory {peak / 1e6:.1f} MB (bound {bound / 1e6:.0f} MB)")
    assert peak < bound, f"peak {peak / 1e6:.1f} MB"


def test_parts_sent_from_the_spool_hold_a_bounded_amount_in_memory(settings,
                                                                  tmp_path: Path) -> None:
    objects = ObjectStore(settings.model_copy(update={"s3_bucket": f"mem-{uuid.uuid4().hex[:10]}"}))
    objects.ensure_bucket()
    size = 96 * 1024 * 1024
    spooled = tmp_path / "big.bin"
    digest = write_random(spooled, size)
    with spooled.open("rb") as written:
        os.fsync(written.fileno())  # as the downloader leaves it
    plan, key = PartPlan.for_size(size), "mem/parts.bin"
    upload_id = objects.start_upload(key, checksums=None)

    tracemalloc.start()
    try:
        with SpoolFile.open((spooled,), abort=threading.Event(), stall_seconds=0) as spool:
            parts = send_parts(objects, key, upload_id, plan, spool, {}, meter=Meter())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    objects.complete_upload(key, upload_id, parts)
    assert sha256_of_object(objects.client, objects.bucket, key) == digest
    # The parts in flight and the one being read, plus 2 MiB for what is not a part.
    bound = (PARALLEL_PARTS + 1) * PART_SIZE + 2 * 1024 * 1024
    print(f"parts peak traced memory {peak / 1e6:.1f} MB (bound {bound / 1e6:.0f} MB)")
    assert peak < bound, f"peak {peak / 1e6:.1f} MB"
    assert cached_bytes(spooled) == 0  # each part read was released from the page cache


def test_a_retry_finds_the_identical_object_and_skips_the_upload(settings, tmp_path: Path) -> None:
    objects = ObjectStore(settings.model_copy(update={"s3_bucket": f"re-{uuid.uuid4().hex[:10]}"}))
    objects.ensure_bucket()
    spooled = tmp_path / "small.bin"
    digest = write_random(spooled, 4096)
    md5 = hashlib.md5(spooled.read_bytes(), usedforsecurity=False).hexdigest()
    first = store(objects, spooled, "re/small.bin", size=4096, sha256=digest, md5=md5,
                  retrying=False)
    again = store(objects, spooled, "re/small.bin", size=4096, sha256=digest, md5=md5,
                  retrying=True)
    assert not first.skipped
    assert again.skipped and again.etag == first.etag


def test_an_etag_equal_to_the_md5_needs_no_second_request_and_any_other_does(
        settings, tmp_path: Path, monkeypatch) -> None:
    objects = ObjectStore(settings.model_copy(update={"s3_bucket": f"et-{uuid.uuid4().hex[:10]}"}))
    objects.ensure_bucket()
    spooled = tmp_path / "small.bin"
    digest = write_random(spooled, 4096)
    md5 = hashlib.md5(spooled.read_bytes(), usedforsecurity=False).hexdigest()
    stats: list[str] = []
    real_stat = objects.stat
    monkeypatch.setattr(objects, "stat", lambda key: stats.append(key) or real_stat(key))

    stored = store(objects, spooled, "et/a.bin", size=4096, sha256=digest, md5=md5,
                   retrying=False)
    assert stored.etag == md5 and stats == []

    # Not the MD5 (as with SSE-KMS, or parts): the stored size is asked for and checked.
    store(objects, spooled, "et/b.bin", size=4096, sha256=digest, md5="0" * 32, retrying=False)
    assert stats == ["et/b.bin"]
