"""The storage audit against real S3 and PostgreSQL."""

import io
import uuid

import pytest

from infra.storage import ObjectStore
from infra.storage_audit import audit


@pytest.fixture
def store(settings):
    bucket = f"audit-{uuid.uuid4().hex[:10]}"
    store = ObjectStore(settings.model_copy(update={"s3_bucket": bucket}))
    store.ensure_bucket()
    return store


async def _stored_file(pool, bucket: str, key: str, size: int) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO files (remote_path, filename, size, remote_mtime, status, bucket,"
            " object_key, source) VALUES (%s, %s, %s, 0, 'notified', %s, %s, 'upload')",
            (key, key.rsplit("/", 1)[-1], size, bucket, key),
        )


async def test_audit_finds_unknown_missing_and_wrong_sized_objects(pool, store):
    def put(key: str, data: bytes) -> None:
        store.client.put_object(store.bucket, key, io.BytesIO(data), len(data))

    put("a/ok.txt", b"12345")
    put("b/unknown – ü.txt", b"x")
    put("c/short.txt", b"12")
    await _stored_file(pool, store.bucket, "a/ok.txt", 5)
    await _stored_file(pool, store.bucket, "c/short.txt", 3)
    await _stored_file(pool, store.bucket, "d/gone.txt", 9)

    report = await audit(pool, store)

    assert report.unknown_objects == ["b/unknown – ü.txt"]
    assert report.missing_objects == ["d/gone.txt"]
    [mismatch] = report.size_mismatches
    assert (mismatch["key"], mismatch["expected"], mismatch["stored"]) == ("c/short.txt", 3, 2)
    assert (report.objects, report.files) == (3, 3)
    assert not report.clean


async def test_an_agreeing_bucket_is_clean(pool, store):
    store.client.put_object(store.bucket, "k", io.BytesIO(b"abc"), 3)
    await _stored_file(pool, store.bucket, "k", 3)

    report = await audit(pool, store)

    assert report.clean


async def test_the_audit_does_not_depend_on_the_order_of_the_listing(pool, store):
    # In byte order "acme-eu/" sorts before "acme/"; SeaweedFS lists "acme/" first.
    keys = [f"{server}/2026/12/01/{uuid.uuid4()}/{name}"
            for server in ("acme", "acme-eu") for name in ("a.csv", "b.csv")]
    for key in keys:
        store.client.put_object(store.bucket, key, io.BytesIO(b"abc"), 3)
        await _stored_file(pool, store.bucket, key, 3)

    assert (await audit(pool, store)).clean

    unknown = f"acme-eu/2026/12/02/{uuid.uuid4()}/stray.csv"
    store.client.put_object(store.bucket, unknown, io.BytesIO(b"x"), 1)
    missing = f"acme/2026/12/02/{uuid.uuid4()}/lost.csv"
    await _stored_file(pool, store.bucket, missing, 7)

    report = await audit(pool, store)

    assert report.unknown_objects == [unknown]
    assert report.missing_objects == [missing]
    assert report.size_mismatches == []
    assert report.counts == {"unknown_objects": 1, "missing_objects": 1, "size_mismatches": 0}
    assert (report.objects, report.files) == (5, 5)


async def test_a_missing_bucket_is_reported_not_raised(pool, settings):
    store = ObjectStore(settings.model_copy(update={"s3_bucket": f"gone-{uuid.uuid4().hex[:8]}"}))
    await _stored_file(pool, store.bucket, "a/ok.txt", 5)

    report = await audit(pool, store)

    assert not report.bucket_exists and not report.clean
    assert report.missing_objects == ["a/ok.txt"]
