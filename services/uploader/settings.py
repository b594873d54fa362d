from pydantic import Field

from infra.settings import Settings


class UploaderSettings(Settings):
    stream_uploads: int = Field(
        2, ge=1, le=64,
        description="Large files one replica uploads while they download, beside its prefetch",
    )
    batch_uploads: int = Field(
        8, ge=1, le=64,
        description="PUTs of batches' small files in flight at once (the S3 client keeps 8"
                    " connections: more open connections they then close)")
    janitor_interval_seconds: float = Field(
        300, gt=0, description="How often multipart uploads no file needs are aborted"
    )
