"""Operator uploads: a multipart body streamed straight into the spool, hashed on the way.

Litestar's own form parsing would first copy the file into a temporary file and only then
call the handler; here the raw request body goes through ``multipart``'s push parser (the
one Litestar uses) and each piece is written to the file's ``.part`` in the spool while
sha256 and md5 are updated, so memory stays at about one :data:`CHUNK` whatever the size.
Once complete, the copy is synced and renamed to its final name (``infra.spool.paths``);
the caller records the row.
"""

import asyncio
import hashlib
import os
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState
from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from infra.spool.page_cache import CacheTrail
from infra.spool.paths import Spool
from infra.spool.space import SpoolFull, check_free_space

CHUNK = 1024 * 1024
FIELD = "file"
_FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and small fields around the file
_MAX_NAME_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadRejected(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class Received:
    file_id: uuid.UUID
    original_name: str
    filename: str
    size: int
    sha256: str
    md5: str
    seconds: float

    @property
    def details(self) -> dict[str, Any]:
        """What the ``uploaded`` event records."""
        return {
            "size": self.size, "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.size / 1e6 / self.seconds, 2) if self.seconds else None,
            "sha256": self.sha256, "md5": self.md5,
        }


def safe_filename(name: str) -> str:
    """The last path component, without control characters, at most 255 bytes of UTF-8."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/")
    base = _CONTROL.sub("", PurePosixPath(name).name).strip()
    if base in {"", ".", ".."}:
        raise UploadRejected(400, "the file name is empty once reduced to a plain name")
    encoded = base.encode()[:_MAX_NAME_BYTES]
    return encoded.decode(errors="ignore")


class _SpoolWriter:
    """Writes and hashes one upload; every method blocks, so it runs in a worker thread."""

    def __init__(self, spool: Spool, file_id: uuid.UUID) -> None:
        self.part = spool.partial(file_id)
        self.final = spool.complete(file_id)
        self.size = 0
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._out: BinaryIO = self.part.open("xb")
        self._trail = CacheTrail(self._out.fileno())  # hashed as written; the uploader reads it

    def write(self, data: bytes) -> None:
        self._out.write(data)
        self._sha256.update(data)
        self._md5.update(data)
        self.size += len(data)
        self._trail.advance(self.size)

    def commit(self) -> tuple[str, str]:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        self.part.rename(self.final)
        return self._sha256.hexdigest(), self._md5.hexdigest()

    def discard(self) -> None:
        self._out.close()
        self.part.unlink(missing_ok=True)


def _check_request(request: Request[Any, Any, Any], spool: Spool, max_bytes: int,
                   reserve_bytes: int) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise UploadRejected(415, f"send multipart/form-data with the file in the field {FIELD!r}")
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else None
    if declared is not None and declared > max_bytes + _FORM_OVERHEAD:
        raise UploadRejected(413, f"the upload is larger than the limit of {max_bytes} bytes")
    try:
        check_free_space(spool, declared or 0, reserve_bytes)
    except SpoolFull as exc:
        raise UploadRejected(
            507, "the spool volume is too full for this upload; free space or try later"
        ) from exc
    return options["boundary"].encode()


class _Receiver:
    def __init__(self, spool: Spool, max_bytes: int) -> None:
        self.spool = spool
        self.max_bytes = max_bytes
        self.file_id = uuid.uuid4()
        self.writer: _SpoolWriter | None = None
        self.original_name = ""
        self._buffer = bytearray()

    async def start(self, name: str) -> None:
        if self.writer is not None:
            raise UploadRejected(400, f"send exactly one file in the field {FIELD!r}")
        self.original_name = _CONTROL.sub("", name)[:4096]
        safe_filename(name)  # reject a hopeless name before receiving the body
        self.writer = await asyncio.to_thread(_SpoolWriter, self.spool, self.file_id)

    async def feed(self, data: bytes) -> None:
        assert self.writer is not None
        self._buffer += data
        if self.writer.size + len(self._buffer) > self.max_bytes:
            raise UploadRejected(413, f"the upload is larger than the limit of {self.max_bytes} "
                                      "bytes")
        if len(self._buffer) >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        if self.writer is not None and self._buffer:
            data, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self.writer.write, data)

    async def discard(self) -> None:
        if self.writer is not None:
            await asyncio.to_thread(self.writer.discard)


async def _from_stream(request: Request[Any, Any, Any], boundary: bytes,
                       receiver: _Receiver) -> None:
    in_file = False
    small_field = 0
    with PushMultipartParser(boundary, max_segment_count=16) as parser:
        async for chunk in request.stream():
            for event in parser.parse(chunk):
                if isinstance(event, MultipartSegment):
                    in_file = event.name == FIELD and event.filename is not None
                    if in_file:
                        await receiver.start(event.filename or "")
                elif event is None:
                    in_file = False
                elif in_file:
                    await receiver.feed(event)
                else:
                    small_field += len(event)
                    if small_field > _FORM_OVERHEAD:
                        raise UploadRejected(413, "form fields besides the file are too large")
            if parser.closed:
                break


async def _from_parsed_form(request: Request[Any, Any, Any], receiver: _Receiver) -> None:
    """The body was parsed already (a plain form post, its CSRF field read by middleware)."""
    upload = (await request.form()).get(FIELD)
    if not isinstance(upload, UploadFile):
        return
    await receiver.start(upload.filename)
    while data := await upload.read(CHUNK):
        await receiver.feed(data)


async def receive(request: Request[Any, Any, Any], *, spool: Spool, max_bytes: int,
                  reserve_bytes: int) -> Received:
    """Stream the ``file`` field of a multipart request into the spool; raise UploadRejected."""
    boundary = _check_request(request, spool, max_bytes, reserve_bytes)
    receiver = _Receiver(spool, max_bytes)
    started = time.monotonic()
    try:
        if ScopeState.from_scope(request.scope).form is not Empty:
            await _from_parsed_form(request, receiver)
        else:
            await _from_stream(request, boundary, receiver)
        if receiver.writer is None:
            raise UploadRejected(400, f"the form has no file in the field {FIELD!r}")
        await receiver.flush()
        sha256, md5 = await asyncio.to_thread(receiver.writer.commit)
    except MultipartError as exc:
        await receiver.discard()
        raise UploadRejected(400, f"the multipart body is malformed: {exc}") from exc
    except BaseException:
        await receiver.discard()
        raise
    return Received(
        file_id=receiver.file_id, original_name=receiver.original_name,
        filename=safe_filename(receiver.original_name), size=receiver.writer.size,
        sha256=sha256, md5=md5, seconds=time.monotonic() - started,
    )
