"""A job's object read through a fault proxy in front of the run's S3 server: a cut link is
resumed to the exact bytes, a link that stays down gives up after the bounded retries, and
a missing object, a bucket not allowed, or an object replaced midway is an error."""

import hashlib
import io
import os
import uuid
from collections.abc import Iterator

import pytest
import urllib3
from minio import Minio

from infra.job_sources import (
    S3Reader,
    SourceChanged,
    SourceError,
    SourceNotFound,
    SourceRefused,
    SourceUnavailable,
    open_s3,
)
from tests.faults.proxy import FaultProxy
from tests.servers import S3Endpoint

MiB = 1024 * 1024
SIZE = 20 * MiB
# Each 64 KiB the proxy forwards waits this long (~30 MB/s): the reader keeps up, so the
# body is not already in this side's socket buffers when the link breaks.
LATENCY = 0.002


def _client(s3: S3Endpoint, endpoint: str, http: urllib3.PoolManager) -> Minio:
    return Minio(endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False,
                 http_client=http)


@pytest.fixture
def direct(s3: S3Endpoint) -> Iterator[Minio]:
    """A client straight to the server, for arranging objects."""
    http = urllib3.PoolManager()
    yield _client(s3, s3.endpoint, http)
    http.clear()


@pytest.fixture
def bucket(direct: Minio) -> Iterator[str]:
    name = f"src-{uuid.uuid4().hex[:12]}"
    direct.make_bucket(name)
    yield name
    for found in direct.list_objects(name, recursive=True):
        direct.remove_object(name, found.object_name or "")
    direct.remove_bucket(name)


@pytest.fixture
def proxy(s3: S3Endpoint) -> Iterator[FaultProxy]:
    host, port = s3.endpoint.rsplit(":", 1)
    with FaultProxy(host, int(port)) as proxy:
        yield proxy


@pytest.fixture
def client(s3: S3Endpoint, proxy: FaultProxy) -> Iterator[Minio]:
    """Built like infra/storage.py's client, through the proxy, retrying a request quickly."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=10), maxsize=8,
        retries=urllib3.Retry(total=2, backoff_factor=0, status_forcelist=(500, 502, 503, 504)),
    )
    yield _client(s3, f"127.0.0.1:{proxy.port}", http)
    http.clear()


def _put(direct: Minio, bucket: str, key: str, data: bytes) -> None:
    direct.put_object(bucket, key, io.BytesIO(data), len(data))


def test_a_link_cut_twice_is_resumed_to_the_exact_bytes(direct, bucket, proxy, client):
    data = os.urandom(SIZE)
    _put(direct, bucket, "big.csv", data)
    sleeps: list[float] = []
    proxy.latency = LATENCY
    proxy.cut_after(3 * MiB)
    digest, dropped = hashlib.sha256(), False
    with S3Reader(client, bucket, "big.csv", backoff=0.01, sleep=sleeps.append) as reader:
        assert reader.size == SIZE
        while chunk := reader.read(MiB):
            assert len(chunk) <= MiB
            digest.update(chunk)
            if not dropped and reader.bytes_read > 6 * MiB:
                proxy.drop()
                dropped = True
        assert reader.bytes_read == SIZE
        assert reader.read(MiB) == b""
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert proxy.cuts == 1 and dropped
    assert reader.resumes == 2
    assert sleeps == [0.01, 0.01]  # one failure in a row each time


def test_a_link_that_stays_down_is_unavailable_after_the_retries(direct, bucket, proxy,
                                                                 client):
    _put(direct, bucket, "big.csv", os.urandom(SIZE))
    sleeps: list[float] = []
    proxy.latency = LATENCY
    reader = S3Reader(client, bucket, "big.csv", retries=5, backoff=0.01, max_backoff=0.03,
                      sleep=sleeps.append)
    with reader, pytest.raises(SourceUnavailable) as failed:
        assert reader.read(MiB)
        proxy.refuse()
        proxy.drop()
        while reader.read(MiB):
            pass
    assert not failed.value.permanent
    assert "after 5 retries" in str(failed.value)
    assert sleeps == [0.01, 0.02, 0.03, 0.03, 0.03]
    assert reader.bytes_read < SIZE and reader.resumes == 0


def test_an_object_replaced_between_resumes_is_an_error(direct, bucket, proxy, client):
    first, second = os.urandom(SIZE), os.urandom(SIZE)
    _put(direct, bucket, "big.csv", first)
    proxy.latency = LATENCY
    got = bytearray()
    reader = open_s3(client, bucket, "big.csv", allowed_buckets={bucket})
    with reader, pytest.raises(SourceChanged) as failed:
        got += reader.read(MiB)
        _put(direct, bucket, "big.csv", second)
        proxy.drop()
        while chunk := reader.read(MiB):
            got += chunk
    assert isinstance(failed.value, SourceError) and not failed.value.permanent  # retried
    assert reader.etag in str(failed.value)
    assert len(got) < SIZE and got == first[: len(got)]


def test_a_missing_object_is_not_found(bucket, client):
    with pytest.raises(SourceNotFound) as missing:
        open_s3(client, bucket, "x.csv", allowed_buckets={bucket})
    assert str(missing.value) == f"no object 'x.csv' in bucket '{bucket}'"


def test_a_bucket_not_allowed_is_refused_before_any_request(bucket, proxy, client):
    with pytest.raises(SourceRefused) as refused:
        open_s3(client, bucket, "x.csv", allowed_buckets={"intake"})
    assert repr(bucket) in str(refused.value)
    assert proxy.connections == 0


def test_closing_early_leaves_the_rest_of_the_body_unread(direct, bucket, proxy, client):
    _put(direct, bucket, "big.csv", os.urandom(SIZE))
    proxy.latency = LATENCY
    with open_s3(client, bucket, "big.csv", allowed_buckets={bucket}) as reader:
        assert len(reader.read(MiB)) <= MiB
    assert reader.closed
    with pytest.raises(ValueError, match="closed"):
        reader.read(MiB)
    assert proxy.bytes_down < SIZE // 2
