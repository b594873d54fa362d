"""Where a processing job reads its CSV from: an object in an allowed bucket, or a file
under the configured root, as a binary stream read in chunks.

An object's body is one long HTTP response, and the minio client's urllib3 retries cover
only the request: a connection that breaks halfway through the body is this module's to
resume, from the last byte handed out and only while the object is still the one opened.
"""

import contextlib
import http.client
import io
import os
import stat
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError


class SourceError(Exception):
    """Why a job's source cannot be read; ``permanent`` False: a retry later may succeed."""

    permanent = True


class SourceNotFound(SourceError):
    """No such object or file."""


class SourceRefused(SourceError):
    """A location the processor must not read: outside the root, or in a bucket not allowed."""


class SourceUnavailable(SourceError):
    """The storage stayed unreachable through the bounded retries."""

    permanent = False


class SourceChanged(SourceError):
    """The object was replaced while it was read: its bytes so far belong to the old one.
    Not permanent: the job's next attempt reads the new object from its start."""

    permanent = False


class _EndedEarly(Exception):
    """The body ended before the object's size: the connection was closed under it."""


# Failures of the link rather than of the request: the body is asked for again. A non-XML
# error (InvalidResponseError) comes from something between us and S3, such as a proxy's 502.
_LINK_ERRORS = (
    urllib3.exceptions.ProtocolError,  # connection broken, IncompleteRead while streaming
    urllib3.exceptions.TimeoutError,  # read and connect timeouts, refused connections
    urllib3.exceptions.MaxRetryError,  # the client's own retries of the request ran out
    urllib3.exceptions.SSLError,
    http.client.HTTPException,
    OSError,
    InvalidResponseError,
    _EndedEarly,
)
_NO_OBJECT = {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"}
_T = TypeVar("_T")


def _transient(exc: Exception) -> bool:
    if isinstance(exc, S3Error):
        return exc.response.status >= 500
    if isinstance(exc, ServerError):
        return exc.status_code >= 500
    return isinstance(exc, _LINK_ERRORS)


class S3Reader(io.RawIOBase):
    """Reads one object from the start, resuming with a ranged GET from the last byte
    consumed when the connection drops or the server answers 5xx.

    Failures in a row are retried at most ``retries`` times, after a backoff that doubles
    from ``backoff`` up to ``max_backoff``; a read that returns bytes resets the count.
    Every GET carries ``If-Match`` with the ETag of the stat at open (and the answer's ETag
    is compared too, for servers that ignore the header), so a replaced object raises
    SourceChanged instead of splicing two versions into one file.
    """

    def __init__(self, client: Minio, bucket: str, key: str, *, retries: int = 8,
                 backoff: float = 0.5, max_backoff: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.bucket = bucket
        self.key = key
        self.bytes_read = 0
        self.resumes = 0  # GETs answered after a failure
        self._client = client
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._response: urllib3.BaseHTTPResponse | None = None
        self._failed = False  # the last GET or read failed: the next GET is a resume
        info = self._retrying(lambda: client.stat_object(bucket, key))
        self.size: int = info.size or 0
        self.etag: str = info.etag or ""

    def __repr__(self) -> str:
        return f"<S3Reader {self.bucket}/{self.key} {self.bytes_read}/{self.size}>"

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.bytes_read

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` bytes, fewer when that is what arrived; b"" only at the end."""
        if self.closed:
            raise ValueError(f"read of closed {self!r}")
        if size is None or size < 0:
            return self.readall()
        wanted = min(size, self.size - self.bytes_read)
        if wanted <= 0:
            return b""
        data = self._retrying(lambda: self._read_body(wanted))
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._release()
        super().close()

    def _read_body(self, wanted: int) -> bytes:
        if self._response is None:
            self._response = self._get()
        data = self._response.read(wanted)
        if not data:
            raise _EndedEarly(f"body ended at byte {self.bytes_read} of {self.size}")
        return data

    def _get(self) -> urllib3.BaseHTTPResponse:
        pinned = {"If-Match": f'"{self.etag}"'} if self.etag else None
        response = self._client.get_object(self.bucket, self.key, offset=self.bytes_read,
                                           request_headers=pinned)
        try:
            etag = (response.headers.get("ETag") or "").strip('"')
            if etag and etag != self.etag:
                raise self._changed(etag)
            if self.bytes_read and response.status != 206:
                raise SourceError(f"{self._name()}: the server ignored the Range of a resume "
                                  f"(HTTP {response.status})")
        except SourceError:
            _release(response)
            raise
        if self._failed:
            self.resumes += 1
        return response

    def _retrying(self, attempt: Callable[[], _T]) -> _T:
        failures = 0
        while True:
            try:
                result = attempt()
            except SourceError:
                self._release()
                raise
            except (MinioException, *_LINK_ERRORS) as exc:
                self._release()
                self._failed = True
                if not _transient(exc):
                    raise self._translate(exc) from exc
                failures += 1
                if failures > self._retries:
                    raise SourceUnavailable(
                        f"{self._name()}: storage unreachable after {self._retries} retries "
                        f"(at byte {self.bytes_read}): {exc}"
                    ) from exc
                self._sleep(min(self._backoff * 2 ** (failures - 1), self._max_backoff))
            else:
                self._failed = False
                return result

    def _translate(self, exc: MinioException) -> SourceError:
        if isinstance(exc, S3Error) and exc.code == "PreconditionFailed":
            return self._changed(None)
        if isinstance(exc, S3Error) and exc.code in _NO_OBJECT:
            bucket = exc.code == "NoSuchBucket"
            return SourceNotFound(f"no bucket {self.bucket!r}" if bucket
                                  else f"no object {self.key!r} in bucket {self.bucket!r}")
        return SourceError(f"{self._name()}: {exc}")

    def _changed(self, etag: str | None) -> SourceChanged:
        now = f"it now has ETag {etag}" if etag else "which the server no longer matches"
        return SourceChanged(f"{self._name()} was replaced while read, at byte "
                             f"{self.bytes_read}: opened with ETag {self.etag}, {now}")

    def _name(self) -> str:
        return f"object {self.key!r} in bucket {self.bucket!r}"

    def _release(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            _release(response)


def _release(response: urllib3.BaseHTTPResponse) -> None:
    """Close an answer without reading the rest of its body, and give the pool back its
    connection (closed, so the pool opens a new one)."""
    with contextlib.suppress(Exception):
        response.close()
    with contextlib.suppress(Exception):
        response.release_conn()


@contextlib.contextmanager
def opened(source: Mapping[str, Any], *, client: Minio, allowed_buckets: Collection[str],
           retries: int, local_root: Path | None) -> Iterator[tuple[BinaryIO, int]]:
    """A job's source, as its row holds it, opened for reading, with its size in bytes."""
    kind = source.get("source")
    if kind == "s3":
        with open_s3(client, source["bucket"], source["key"], allowed_buckets=allowed_buckets,
                     retries=retries) as reader:
            yield reader, reader.size
    elif kind == "local":
        if local_root is None:
            raise SourceRefused("this processor reads no local files"
                                " (INTAKE_JOBS_LOCAL_ROOT is not set)")
        with open_local(local_root, source["path"]) as local:
            yield local, os.fstat(local.fileno()).st_size
    else:
        raise SourceRefused(f"unknown job source {kind!r}")


def open_s3(client: Minio, bucket: str, key: str, *, allowed_buckets: Collection[str],
            retries: int = 8) -> S3Reader:
    """The object ``key`` of ``bucket`` opened for reading, if the bucket is one allowed."""
    if bucket not in allowed_buckets:
        raise SourceRefused(f"bucket {bucket!r} is not one the processor reads")
    if not key:
        raise SourceRefused(f"an empty object key in bucket {bucket!r}")
    return S3Reader(client, bucket, key, retries=retries)


def path_form(path: str) -> PurePosixPath:
    """``path`` as a relative path that cannot climb out of a root by its form: no NUL, not
    absolute, no ``..``, not empty. (Symlinks are :func:`local_path`'s to check.)"""
    if "\0" in path:
        raise SourceRefused(f"path {path!r} contains a NUL byte")
    relative = PurePosixPath(path)
    if relative.is_absolute():
        raise SourceRefused(f"path {path!r} is absolute; paths are relative to the root")
    if ".." in relative.parts:
        raise SourceRefused(f"path {path!r} has a '..' component")
    if not relative.parts:
        raise SourceRefused(f"path {path!r} names no file")
    return relative


def local_path(root: Path, path: str) -> Path:
    """The regular file under ``root`` that ``path`` names, symlinks resolved.

    Refused before looked up, so that an answer never tells whether a file outside the
    root exists.
    """
    relative = path_form(path)
    real_root = root.resolve()
    try:
        real = (real_root / relative).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise SourceRefused(f"path {path!r} cannot be resolved: {exc}") from exc
    if not real.is_relative_to(real_root):
        raise SourceRefused(f"path {path!r} leads outside the root")
    try:
        mode = real.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise SourceNotFound(f"no file {path!r} under the jobs root") from None
    except OSError as exc:
        raise SourceError(f"path {path!r} cannot be read: {exc.strerror}") from exc
    if not stat.S_ISREG(mode):
        raise SourceRefused(f"path {path!r} is not a regular file")
    return real


def open_local(root: Path, path: str) -> BinaryIO:
    """The file ``path`` names under ``root`` opened for reading; ``os.fstat`` on it gives its size.

    Opened without following a symlink, and checked again once open: the file may have
    been swapped since ``local_path`` looked (O_NONBLOCK: a FIFO put in its place cannot
    hold the open up; it changes nothing for a regular file).
    """
    real = local_path(root, path)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SourceNotFound(f"no file {path!r} under the jobs root") from None
    except OSError as exc:  # ELOOP: the file became a symlink
        raise SourceRefused(f"path {path!r} cannot be opened: {exc}") from exc
    stream = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        stream.close()
        raise SourceRefused(f"path {path!r} is not a regular file")
    return stream
