"""Object storage through the minio client (MinIO, or any S3-compatible server).

Synchronous like paramiko: callers run these methods in a worker thread.

An object carries its sha256 and md5 as tags (``sha256``, ``md5``), and as metadata too
(``x-amz-meta-sha256``, ``x-amz-meta-md5``) when they were known as its upload began: a
large file's upload begins while it is still downloading, and S3 metadata cannot change
afterwards, while tags can be set once the object is complete.

Multipart uploads that must outlive one attempt (resumed after a crash, or fed while the
file downloads) go step by step through ``infra.multipart``.
"""

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import urllib3
from minio import Minio
from minio.commonconfig import Tags
from minio.datatypes import Part
from minio.error import S3Error

from infra.failures import Reason
from infra.multipart import MultipartSteps
from infra.settings import Settings

# Memory held by one upload is about part size x (PARALLEL_PARTS + 1): minio reads the
# next part while the others are in flight. Larger parts or more of them moved no faster
# (docs/performance.md, target 2).
MiB = 1024 * 1024
PART_SIZE = 8 * MiB
PARALLEL_PARTS = 3
MAX_PARTS = 10_000  # S3's limits per multipart upload
MIN_PART_SIZE = 5 * MiB  # but the last
MAX_PART_SIZE = 5 * 1024 * MiB


def part_size(size: int, smallest: int = PART_SIZE) -> int:
    """``smallest``, or the smallest whole MiB that keeps ``size`` within MAX_PARTS parts."""
    needed = -(-size // MAX_PARTS)
    return max(smallest, -(-needed // MiB) * MiB)


_NO_OBJECT = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}


class StorageError(Exception):
    transient = True
    reason = Reason.STORAGE


class ObjectMismatch(StorageError):
    """The stored object does not match what we sent."""


class UploadGone(StorageError):
    """The multipart upload was completed or aborted meanwhile (or expired on the server)."""


@dataclass(frozen=True)
class UploadedPart:
    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class OpenUpload:
    key: str
    upload_id: str
    initiated: datetime | None


@dataclass(frozen=True)
class StoredObject:
    size: int
    etag: str
    sha256: str | None


class ObjectStore:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self._endpoint = settings.s3_endpoint
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            secure=settings.s3_secure,
            region=settings.s3_region,
            # Bounded retries here; the pipeline's own backoff handles longer outages.
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=10, read=120),
                maxsize=8,
                retries=urllib3.Retry(total=3, backoff_factor=0.5,
                                      status_forcelist=(500, 502, 503, 504)),
            ),
        )
        self._multipart = MultipartSteps(self._client, self.bucket)

    @property
    def client(self) -> Minio:
        return self._client

    def ensure_bucket(self) -> None:
        """Create the bucket if missing; a refusal of the credentials says which settings."""
        try:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code in _REFUSED:
                raise StorageError(
                    f"the S3 server at {self._endpoint} refused the credentials in "
                    f"INTAKE_S3_ACCESS_KEY / INTAKE_S3_SECRET_KEY ({exc.code})") from None
            if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def stat(self, key: str) -> StoredObject | None:
        """The object's size, ETag and sha256 (from its metadata, else its tags)."""
        try:
            info = self._client.stat_object(self.bucket, key)
            sha256 = (info.metadata or {}).get("x-amz-meta-sha256")
            if sha256 is None:
                sha256 = (self._client.get_object_tags(self.bucket, key) or {}).get("sha256")
        except S3Error as exc:
            if exc.code in _NO_OBJECT:
                return None
            raise
        return StoredObject(size=info.size or 0, etag=info.etag or "", sha256=sha256)

    def put_file(self, path: Path, key: str, *, sha256: str, md5: str,
                 content_type: str = "application/octet-stream") -> str:
        """Stream a spool file into the bucket; returns the ETag."""
        result = self._client.fput_object(
            self.bucket,
            key,
            str(path),
            content_type=content_type,
            metadata={"sha256": sha256, "md5": md5},
            tags=_checksum_tags(sha256, md5),
            part_size=part_size(path.stat().st_size),
            num_parallel_uploads=PARALLEL_PARTS,
        )
        return result.etag or ""

    def put_bytes(self, key: str, data: bytes, *, sha256: str, md5: str,
                  content_type: str = "application/octet-stream") -> str:
        """Store ``data`` (at most a part) in one request; returns the ETag."""
        result = self._client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type,
            metadata={"sha256": sha256, "md5": md5}, tags=_checksum_tags(sha256, md5),
            part_size=max(len(data), MIN_PART_SIZE),  # one request, whatever minio prefers
        )
        return result.etag or ""

    def verify(self, key: str, *, size: int, md5: str, etag: str) -> str:
        """The ETag of the object just stored, once it is known to hold the bytes sent.

        An object sent in one piece has its MD5 as ETag: equal to the sender's, it is the
        very bytes, and asking for its size would be a round trip per file for nothing.
        Sent in parts, or by a server that computes ETags otherwise (SSE-KMS), the size
        is checked instead.
        """
        if etag == md5:
            return etag
        stored = self.stat(key)
        if stored is None or stored.size != size:
            raise ObjectMismatch(
                f"stored object {key} has {stored.size if stored else 'no'} bytes, "
                f"expected {size}")
        return etag or stored.etag

    def remove(self, key: str) -> None:
        self._client.remove_object(self.bucket, key)

    def start_upload(self, key: str, *, checksums: tuple[str, str] | None,
                     content_type: str = "application/octet-stream") -> str:
        """Begin a multipart upload; returns its id. ``checksums`` (sha256, md5) go into
        the metadata when they are known already."""
        headers = {"Content-Type": content_type}
        if checksums is not None:
            headers |= {"x-amz-meta-sha256": checksums[0], "x-amz-meta-md5": checksums[1]}
        return self._multipart.create(key, headers)

    def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        try:
            etag = self._multipart.upload_part(key, upload_id, number, data)
        except S3Error as exc:
            raise _gone_or(exc, key) from exc
        return UploadedPart(number, etag, len(data))

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, UploadedPart]:
        """The parts the server holds for the upload, by part number."""
        found: dict[int, UploadedPart] = {}
        marker: str | None = None
        while True:
            try:
                page = self._multipart.list_parts(key, upload_id, marker=marker)
            except S3Error as exc:
                raise _gone_or(exc, key) from exc
            for part in page.parts:
                found[part.part_number] = UploadedPart(part.part_number, part.etag,
                                                       part.size or 0)
            if not page.is_truncated or not page.next_part_number_marker:
                return found
            marker = page.next_part_number_marker

    def complete_upload(self, key: str, upload_id: str, parts: list[UploadedPart]) -> str:
        """Join the parts (in number order) into the object; returns its ETag."""
        ordered = [Part(p.number, p.etag) for p in sorted(parts, key=lambda p: p.number)]
        try:
            etag = self._multipart.complete(key, upload_id, ordered)
        except S3Error as exc:
            raise _gone_or(exc, key) from exc
        return etag or ""

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Drop an unfinished upload and the parts it holds; a gone upload is fine."""
        try:
            self._multipart.abort(key, upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    def open_uploads(self, prefix: str) -> list[OpenUpload]:
        """Multipart uploads under ``prefix`` neither completed nor aborted (at most 1,000)."""
        return [OpenUpload(u.object_name, u.upload_id, u.initiated_time)
                for u in self._multipart.list_uploads(prefix).uploads if u.upload_id]

    def tag_checksums(self, key: str, *, sha256: str, md5: str) -> None:
        self._client.set_object_tags(self.bucket, key, _checksum_tags(sha256, md5))


def _checksum_tags(sha256: str, md5: str) -> Tags:
    tags = Tags.new_object_tags()
    tags["sha256"] = sha256
    tags["md5"] = md5
    return tags


def _gone_or(exc: S3Error, key: str) -> Exception:
    if exc.code == "NoSuchUpload":
        return UploadGone(f"the multipart upload of {key} is no longer open")
    return exc
