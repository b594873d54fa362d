"""Versioned pydantic models for every message Intake sends.

Pipeline messages carry only the file id plus what the next stage needs to sanity-check
its work; the database row is the source of truth. ``FileReady`` is the external contract
that partners' systems consume, so it carries everything about the stored object.
"""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class Versioned(BaseModel):
    """What every Intake message has: immutable, its schema's version, unknown fields
    ignored (a newer sender's additions do not break an older reader)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal[1] = SCHEMA_VERSION


class _Message(Versioned):
    file_id: UUID


class FileDiscovered(_Message):
    """A stable file version was recorded; the downloader should fetch it."""

    server_id: int
    remote_path: str
    size: int = Field(ge=0)


SPOOL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class SpooledMessage(_Message):
    """A message about a copy in one host's spool: it is routed to that spool's consumers."""

    spool: str = Field(pattern=SPOOL_ID_PATTERN)


class FileDownloading(SpooledMessage):
    """A large file's download has begun; the uploader may send its parts to storage as
    their bytes land in the spool, so that the upload ends soon after the download."""

    size: int = Field(ge=0)


class FileDownloaded(SpooledMessage):
    """The file sits complete and verified in the spool; the uploader should store it."""

    size: int = Field(ge=0)
    sha256: str
    md5: str


class FileStored(_Message):
    """The object is in the bucket and verified; the notifier should announce it."""

    bucket: str
    object_key: str


class ServerRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int | None
    name: str


class FileReady(_Message):
    """External notification: the file is stored and may be imported.

    Published with ``message_id`` equal to ``file_id`` so consumers can deduplicate.
    """

    server: ServerRef
    remote_path: str
    filename: str
    size: int
    sha256: str
    md5: str
    bucket: str
    object_key: str
    etag: str
    discovered_at: datetime
    stored_at: datetime


class JobRequested(Versioned):
    """A processing job to run (its row in ``jobs`` says what on and how)."""

    job_id: UUID
