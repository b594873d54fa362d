"""The answer to an upload."""

from uuid import UUID

from pydantic import BaseModel

from infra.file_states import Status


class UploadAccepted(BaseModel):
    id: UUID
    status: Status
    filename: str
    size: int
    sha256: str
    md5: str
