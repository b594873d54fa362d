"""Where a file's object goes in the bucket: one layout for the uploader's files and the
admin's uploads alike, so the key says where a file came from and a retry finds its object.

``<server>/<YYYY>/<MM>/<DD>/<file id>/<filename>``, the date that of the files row; an
admin upload (no server) goes under ``upload``.
"""

from datetime import datetime
from uuid import UUID

from infra.file_states import FileWithServer

UPLOADS = "upload"


def object_key(row: FileWithServer) -> str:
    return _key(row.server_name or UPLOADS, row.created_at, row.id, row.filename)


def upload_key(file_id: UUID, created_at: datetime, filename: str) -> str:
    """The key of an admin upload whose row will be created at ``created_at``."""
    return _key(UPLOADS, created_at, file_id, filename)


def _key(prefix: str, created_at: datetime, file_id: UUID, filename: str) -> str:
    return f"{prefix}/{created_at:%Y/%m/%d}/{file_id}/{filename}"
