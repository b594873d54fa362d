"""Message schemas and AMQP names shared by every Intake service. Imports only pydantic."""

from contracts.messages import (
    SCHEMA_VERSION,
    FileDiscovered,
    FileDownloaded,
    FileDownloading,
    FileReady,
    FileStored,
    ServerRef,
)
from contracts.topology import Stage, Topology

__all__ = [
    "SCHEMA_VERSION",
    "FileDiscovered",
    "FileDownloaded",
    "FileDownloading",
    "FileReady",
    "FileStored",
    "ServerRef",
    "Stage",
    "Topology",
]
