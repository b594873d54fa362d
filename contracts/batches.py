"""Batch messages: many small files moving on together as one message between two stages.

A batch is only a way to carry files: each file inside still has its own row, its own
journal, its own claim, and its own retry. A file of a batch that fails goes back to its
stage alone, as the per-file message it carries here; its neighbours go on.
"""

from collections.abc import Sequence
from typing import ClassVar, Self
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
    files: Sequence[Versioned]  # each batch's own files, at least one
    # The field whose value every file of a batch shares with the batch, where one does.
    _shared: ClassVar[str | None] = None

    @model_validator(mode="after")
    def _files_share(self) -> Self:
        name = self._shared
        if name is not None and any(getattr(file, name) != getattr(self, name)
                                    for file in self.files):
            raise ValueError(f"every file of a batch has the batch's {name}")
        return self


class DiscoveredBatch(_Batch):
    """Small new files of one server's scan, for one downloader to fetch on one session."""

    _shared = "server_id"
    server_id: int
    files: list[FileDiscovered] = Field(min_length=1)


class DownloadedBatch(_Batch):
    """Small files complete in one host's spool: routed to that spool's uploaders."""

    _shared = "spool"
    spool: str = Field(pattern=SPOOL_ID_PATTERN)
    files: list[FileDownloaded] = Field(min_length=1)


class StoredBatch(_Batch):
    """Small files stored and verified, for the notifier to announce (each on its own)."""

    files: list[FileStored] = Field(min_length=1)
