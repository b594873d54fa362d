"""The body of ``GET /api/stats``, which the dashboard page shows too."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from infra.file_states import Status
from services.admin.files.schemas import ProgressOut


class MinuteOut(BaseModel):
    minute: datetime
    files: int
    bytes: int


class OldestOut(BaseModel):
    id: UUID
    status: Status
    filename: str
    created_at: datetime
    age_s: float


class ServerStatsOut(BaseModel):
    id: int
    name: str
    enabled: bool
    last_scan_at: datetime | None
    last_scan_error: str | None
    counts: dict[str, int]


class SpoolOut(BaseModel):
    id: str
    hostname: str
    started_at: datetime
    seen_at: datetime
    alive: bool
    """Its uploader beat within ``INTAKE_SPOOL_LOST_AFTER_SECONDS`` of the newest beat."""
    holding: int
    """Files whose copy is being written or waits there."""


class ServiceOut(BaseModel):
    name: str
    url: str
    ready: bool
    """Its ``/readyz`` answered 2xx within a second."""


class TransferOut(ProgressOut):
    file_id: UUID
    filename: str


class StatsOut(BaseModel):
    counts: dict[str, int]
    """Files per status; every status is present."""
    total: int
    in_flight: int
    """Being downloaded or stored, or claimed by a worker right now."""
    stored_per_minute: list[MinuteOut]
    """The last 15 minutes, oldest first, from the journal's ``stored`` events."""
    oldest_unfinished: OldestOut | None
    servers: list[ServerStatsOut]
    spools: list[SpoolOut]
    """Each host's spool, the 50 seen last; a lost one's files are downloaded elsewhere."""
    jobs_in_progress: int = 0
    """Processing jobs queued or running."""
    transfers: list[TransferOut] = []
    """Downloads and uploads in flight, the 50 oldest (a streamed file's download and
    upload each), with their rate and ETA."""
    services: list[ServiceOut] = []
    """Each service of ``INTAKE_SERVICE_URLS``, probed with the other numbers."""
