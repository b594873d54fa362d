from pydantic import Field

from infra.settings import PartnerKeySettings


class DownloaderSettings(PartnerKeySettings):
    spool_reserve_bytes: int = Field(
        1024**3, ge=0, description="Free space kept on the spool volume beyond each file"
    )
    read_window_bytes: int = Field(
        8 * 1024 * 1024, ge=32768,
        description="Bytes requested ahead of the reader (memory bound)",
    )
    spool_wait_seconds: float = Field(
        30.0, gt=0,
        description="How long a file waits when this host's spool cannot take it (full, or"
                    " its uploader gone) before a downloader looks at it again")
    janitor_interval_seconds: float = Field(
        300, gt=0, description="How often the spool is swept for copies no file needs"
    )
    spool_failed_keep_days: int = Field(
        7, ge=0, description="A failed file's copy stays in the spool this many days for a"
                             " retry to upload it; after that its janitor removes it (journaled"
                             " spool_expired) and a retry downloads it again; 0: kept forever")
