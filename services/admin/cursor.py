"""Opaque keyset cursors for the newest-first file listing (shared by the API and pages)."""

import base64
import binascii
from datetime import datetime
from uuid import UUID

from litestar.exceptions import ValidationException

from services.admin.files.queries import FileKey


def encode_cursor(key: FileKey) -> str:
    created_at, file_id = key
    raw = f"{created_at.isoformat()}|{file_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> FileKey:
    """Parse a cursor from a query string; anything malformed is the client's 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, file_id = raw.split("|")
        at = datetime.fromisoformat(created_at)
        if at.tzinfo is None:
            raise ValueError("cursor time has no offset")
        return at, UUID(file_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationException(
            "cursor is not valid; use the next_cursor of a previous page",
            extra=[
                {"key": "cursor", "message": "not a cursor returned by this API", "source": "query"}
            ],
        ) from exc
