"""Batch messages: many small files moving on together as one message between two stages.

A batch is only a way to carry files: each file inside still has its own row, its own
journal, its own claim, and its own retry. A file of a batch that fails goes back to its
stage alone, as the per-file message it carries here; its neighbours go on.
"""

from typing import Self
from uuid import UUID

from pydantic import Field, model_validator

from contracts.messages import (
    SPOOL_ID_PATTERN,
    FileDiscovered,
    FileDownloaded,
    FileStored,
    Versioned,
)


class _Batch(Versioned):
    batch_id: UUID


class DiscoveredBatch(_Batch):
    """Small new files of one server's scan, for one downloader to fetch on one session."""

    server_id: int
    files: list[FileDiscovered] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_server(self) -> Self:
        if any(file.server_id != self.server_id for file in self.files):
            raise ValueError("every file of a batch is on the batch's server")
        return self


class DownloadedBatch(_Batch):
    """Small files complete in one host's spool: routed to that spool's uploaders."""

    spool: str = Field(pattern=SPOOL_ID_PATTERN)
    files: list[FileDownloaded] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_spool(self) -> Self:
        if any(file.spool != self.spool for file in self.files):
            raise ValueError("every file of a batch is in the batch's spool")
        return self


class StoredBatch(_Batch):
    """Small files stored and verified, for the notifier to announce (each on its own)."""

    files: list[FileStored] = Field(min_length=1)
