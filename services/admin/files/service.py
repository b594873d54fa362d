"""What the API and the pages both do with files: filters and presigned links.

Handlers stay thin; the rules (what a valid filter is, when a file has a link) live here
once.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from litestar.exceptions import ValidationException

from infra.file_states import Status
from infra.storage import ObjectStore
from services.admin.files.queries import FileFilter

MAX_QUERY = 200


def _utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are taken as UTC, which is what the pages show."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def file_filter(*, status: Status | None, server_id: int | None, q: str | None,
                since: datetime | None, until: datetime | None) -> FileFilter:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise ValidationException(
            "until must be later than since",
            extra=[{"key": "until", "message": "must be later than since", "source": "query"}],
        )
    if q is not None and "\x00" in q:  # no file name holds one, and PostgreSQL text cannot
        raise ValidationException(
            "q must not contain NUL",
            extra=[{"key": "q", "message": "must not contain NUL", "source": "query"}],
        )
    text = q.strip() if q else None
    return FileFilter(status=status, server_id=server_id, q=text or None, since=since,
                      until=until)


class NotStored(Exception):
    pass


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime
    bucket: str
    object_key: str


async def download_link(objects: ObjectStore, row: dict[str, Any], ttl_s: int) -> Link:
    """A presigned GET for a stored file's object, offering the original file name."""
    if row["stored_at"] is None or not row["object_key"] or not row["bucket"]:
        raise NotStored(f"file {row['id']} is {row['status']} and has no stored object yet")
    ttl = timedelta(seconds=ttl_s)
    disposition = f"attachment; filename*=UTF-8''{quote(row['filename'], safe='')}"
    url = await asyncio.to_thread(
        objects.client.presigned_get_object, row["bucket"], row["object_key"], expires=ttl,
        response_headers={"response-content-disposition": disposition},
    )
    return Link(url, datetime.now(UTC) + ttl, row["bucket"], row["object_key"])
