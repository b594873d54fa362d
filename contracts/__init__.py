"""Message schemas and AMQP names shared by every Intake service. Imports only pydantic."""

from contracts.batches import DiscoveredBatch, DownloadedBatch, StoredBatch
from contracts.messages import (
    SCHEMA_VERSION,
    SPOOL_ID_PATTERN,
    FileDiscovered,
    FileDownloaded,
    FileDownloading,
    FileReady,
    FileStored,
    JobRequested,
    ServerRef,
    SpooledMessage,
)
from contracts.topology import SPOOLED, Stage, Topology

__all__ = [
    "SCHEMA_VERSION",
    "SPOOLED",
    "SPOOL_ID_PATTERN",
    "DiscoveredBatch",
    "DownloadedBatch",
    "FileDiscovered",
    "FileDownloaded",
    "FileDownloading",
    "FileReady",
    "FileStored",
    "JobRequested",
    "ServerRef",
    "SpooledMessage",
    "Stage",
    "StoredBatch",
    "Topology",
]
