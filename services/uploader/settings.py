from pydantic import Field

from infra.settings import Settings


class UploaderSettings(Settings):
    stream_uploads: int = Field(
        2, ge=1, le=64,
        description="Large files one replica uploads while they download, beside its prefetch",
    )
    batch_uploads: int = Field(
        8, ge=1, le=64, description="PUTs of one batch's small files in flight at once")
    janitor_interval_seconds: float = Field(
        300, gt=0, description="How often multipart uploads no file needs are aborted"
    )
