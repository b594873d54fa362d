"""An upload's bytes into the bucket as they arrive, hashed on the way.

A form's file has no length until its end, so it goes up as a multipart upload in parts of
one fixed size, each sent once the next byte has arrived: a file of at most one part is
stored in one request instead, with its checksums as metadata too. One part is in flight
while the next is received, so memory stays at about two parts.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from minio.error import MinioException, S3Error
from urllib3.exceptions import HTTPError

from infra.storage import ObjectStore, StorageError, UploadedPart

log = logging.getLogger("intake.admin.uploads")

T = TypeVar("T")
STORAGE_ERRORS = (StorageError, MinioException, HTTPError, OSError)


class StorageFailed(Exception):
    """Storage refused or could not be reached; the upload was dropped."""


@dataclass(frozen=True)
class StoredUpload:
    key: str
    etag: str
    size: int
    sha256: str
    md5: str
    parts: int


class ObjectSink:
    """Writes one upload to ``key``; ``commit`` stores it, ``abort`` leaves nothing behind."""

    def __init__(self, objects: ObjectStore, key: str, part_size: int) -> None:
        self.key = key
        self.size = 0
        self._objects = objects
        self._part_size = part_size
        self._buffer = bytearray()
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._upload_id: str | None = None
        self._parts: list[UploadedPart] = []
        self._stored = False
        self._in_flight: Future[None] | None = None
        # One thread per upload: its requests run in order, so an abort queued behind a
        # part still on its way sees the upload that part began.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="admin-upload")

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) > self._part_size:
            if self._in_flight is not None:  # first, so that no third part is ever held
                await self._result(self._in_flight)
            self._in_flight = self._worker.submit(self._send_part, self._take(self._part_size))

    async def commit(self) -> StoredUpload:
        """Store what is left and complete the object; on failure, ``abort`` drops it."""
        if self._in_flight is not None:
            await self._result(self._in_flight)
        stored = await self._result(self._worker.submit(self._finish, self._take()))
        self._worker.shutdown(wait=False)
        return stored

    async def abort(self) -> None:
        """Drop the unfinished upload or the stored object; waits for a part on its way."""
        try:
            await asyncio.shield(asyncio.wrap_future(self._worker.submit(self._drop)))
        except STORAGE_ERRORS:
            log.warning("an aborted upload could not be dropped from storage: %s", self.key,
                        exc_info=True)
        finally:
            self._worker.shutdown(wait=False)

    def _take(self, size: int | None = None) -> bytes:
        """The first ``size`` bytes of the buffer (all of them by default), copied once."""
        with memoryview(self._buffer) as view, view[:size] as head:
            data = bytes(head)
        del self._buffer[:len(data)]
        return data

    async def _result(self, future: Future[T]) -> T:
        try:
            return await asyncio.wrap_future(future)
        except STORAGE_ERRORS as exc:
            raise StorageFailed(str(exc)) from exc

    def _hash(self, data: bytes) -> None:
        self._sha256.update(data)
        self._md5.update(data)

    def _send_part(self, data: bytes) -> None:
        self._hash(data)
        if self._upload_id is None:
            self._upload_id = self._into_bucket(
                lambda: self._objects.start_upload(self.key, checksums=None))
        number = len(self._parts) + 1
        self._parts.append(self._objects.put_part(self.key, self._upload_id, number, data))

    def _finish(self, last: bytes) -> StoredUpload:
        if self._upload_id is None:
            self._hash(last)
            sha256, md5 = self._sha256.hexdigest(), self._md5.hexdigest()
            etag = self._into_bucket(
                lambda: self._objects.put_bytes(self.key, last, sha256=sha256, md5=md5))
            self._stored = True
        else:
            self._send_part(last)
            sha256, md5 = self._sha256.hexdigest(), self._md5.hexdigest()
            etag = self._objects.complete_upload(self.key, self._upload_id, self._parts)
            self._upload_id, self._stored = None, True
            self._objects.tag_checksums(self.key, sha256=sha256, md5=md5)
        etag = self._objects.verify(self.key, size=self.size, md5=md5, etag=etag)
        return StoredUpload(self.key, etag, self.size, sha256, md5, max(1, len(self._parts)))

    def _drop(self) -> None:
        if self._upload_id is not None:
            self._objects.abort_upload(self.key, self._upload_id)
        if self._stored:
            self._objects.remove(self.key)

    def _into_bucket(self, call: Callable[[], T]) -> T:
        """``call``, creating the bucket first if it is missing: with no uploader running
        anywhere, nothing else may have."""
        try:
            return call()
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
        self._objects.ensure_bucket()
        return call()
