"""Operator uploads: a multipart body streamed straight into object storage, hashed on the
way.

Litestar's own form parsing would first copy the file into a temporary file and only then
call the handler (its CSRF middleware would too: the console's form is excluded from it and
its token checked here as the body streams, see ``auth/csrf.py``); here the raw request
body goes through ``multipart``'s push parser (the one Litestar uses) and each piece goes on
to an :class:`ObjectSink`, which sends it to the bucket in parts while sha256 and md5 are
updated, so memory stays at about two parts whatever the size. The caller records the row
once the object is stored and verified.
"""

import logging
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from litestar import Request
from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from infra.object_keys import upload_key
from infra.storage import ObjectStore
from services.admin.auth.csrf import CsrfCheck
from services.admin.uploads.storing import ObjectSink, StorageFailed, StoredUpload

log = logging.getLogger("intake.admin.uploads")

FIELD = "file"
CSRF_FIELD = "_csrf_token"
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
    created_at: datetime  # the date in its object key
    original_name: str
    filename: str
    stored: StoredUpload
    seconds: float

    @property
    def details(self) -> dict[str, Any]:
        """What the ``uploaded`` event records."""
        size = self.stored.size
        return {
            "size": size, "seconds": round(self.seconds, 3),
            "mb_per_s": round(size / 1e6 / self.seconds, 2) if self.seconds else None,
            "sha256": self.stored.sha256, "md5": self.stored.md5,
            "object_key": self.stored.key, "etag": self.stored.etag,
            "parts": self.stored.parts,
        }


def safe_filename(name: str) -> str:
    """The last path component, without control characters, at most 255 bytes of UTF-8."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/")
    base = _CONTROL.sub("", PurePosixPath(name).name).strip()
    if base in {"", ".", ".."}:
        raise UploadRejected(400, "the file name is empty once reduced to a plain name")
    encoded = base.encode()[:_MAX_NAME_BYTES]
    return encoded.decode(errors="ignore")


def _check_request(request: Request[Any, Any, Any], max_bytes: int) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise UploadRejected(415, f"send multipart/form-data with the file in the field {FIELD!r}")
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else None
    if declared is not None and declared > max_bytes + _FORM_OVERHEAD:
        raise UploadRejected(413, f"the upload is larger than the limit of {max_bytes} bytes")
    return options["boundary"].encode()


class _Receiver:
    def __init__(self, objects: ObjectStore, max_bytes: int, part_size: int) -> None:
        self.objects = objects
        self.max_bytes = max_bytes
        self.part_size = part_size
        self.file_id = uuid.uuid4()
        self.created_at = datetime.now(UTC)
        self.sink: ObjectSink | None = None
        self.original_name = ""
        self.filename = ""

    def start(self, name: str) -> None:
        if self.sink is not None:
            raise UploadRejected(400, f"send exactly one file in the field {FIELD!r}")
        self.original_name = _CONTROL.sub("", name)[:4096]
        self.filename = safe_filename(self.original_name)  # refused before the body comes
        self.sink = ObjectSink(self.objects, upload_key(self.file_id, self.created_at,
                                                        self.filename), self.part_size)

    async def feed(self, data: bytes) -> None:
        assert self.sink is not None
        if self.sink.size + len(data) > self.max_bytes:
            raise UploadRejected(413, f"the upload is larger than the limit of {self.max_bytes} "
                                      "bytes")
        await self.sink.write(data)

    async def discard(self) -> None:
        if self.sink is not None:
            await self.sink.abort()


def _csrf_refused() -> UploadRejected:
    return UploadRejected(403, f"CSRF token verification failed (send {CSRF_FIELD!r} before "
                               "the file)")


async def _from_stream(request: Request[Any, Any, Any], boundary: bytes,
                       receiver: _Receiver, csrf: CsrfCheck | None) -> None:
    """``csrf``: the check the ``_csrf_token`` field must pass before the file starts."""
    in_file = False
    field: str | None = None
    value = bytearray()
    small_field = 0
    with PushMultipartParser(boundary, max_segment_count=16) as parser:
        async for chunk in request.stream():
            for event in parser.parse(chunk):
                if isinstance(event, MultipartSegment):
                    field = event.name
                    in_file = field == FIELD and event.filename is not None
                    if in_file:
                        if csrf is not None:
                            raise _csrf_refused()
                        receiver.start(event.filename or "")
                elif event is None:
                    if field == CSRF_FIELD and csrf is not None:
                        if not csrf(value.decode(errors="replace")):
                            raise _csrf_refused()
                        csrf = None  # passed
                    in_file, field = False, None
                    value.clear()
                elif in_file:
                    await receiver.feed(event)
                else:
                    small_field += len(event)
                    if small_field > _FORM_OVERHEAD:
                        raise UploadRejected(413, "form fields besides the file are too large")
                    if field == CSRF_FIELD:
                        value += event
            if parser.closed:
                break
    if csrf is not None:
        raise _csrf_refused()


async def receive(request: Request[Any, Any, Any], *, objects: ObjectStore, max_bytes: int,
                  part_size: int, csrf: CsrfCheck | None = None) -> Received:
    """Stream the ``file`` field of a multipart request into the bucket; raise UploadRejected.

    ``csrf``: for the console's form, the check its ``_csrf_token`` field must pass.
    """
    boundary = _check_request(request, max_bytes)
    receiver = _Receiver(objects, max_bytes, part_size)
    started = time.monotonic()
    try:
        await _from_stream(request, boundary, receiver, csrf)
        if receiver.sink is None:
            raise UploadRejected(400, f"the form has no file in the field {FIELD!r}")
        stored = await receiver.sink.commit()
    except MultipartError as exc:
        await receiver.discard()
        raise UploadRejected(400, f"the multipart body is malformed: {exc}") from exc
    except StorageFailed as exc:
        await receiver.discard()
        log.warning("upload %s refused: object storage failed: %s", receiver.file_id, exc,
                    extra={"file_id": str(receiver.file_id)})
        raise UploadRejected(
            503, "object storage is unavailable or refused the upload; try again later"
        ) from exc
    except BaseException:
        await receiver.discard()
        raise
    return Received(
        file_id=receiver.file_id, created_at=receiver.created_at,
        original_name=receiver.original_name, filename=receiver.filename, stored=stored,
        seconds=time.monotonic() - started,
    )
