from pydantic import Field

from infra.settings import PartnerKeySettings


class DiscoverySettings(PartnerKeySettings):
    scan_tick_seconds: float = Field(1.0, gt=0, description="How often due servers are looked for")
    scan_lease_seconds: int = Field(
        60, ge=5, description="How long a scan holds its server between two listing batches,"
                              " at least its deadline plus the connect timeout"
    )
    scan_batch_size: int = Field(5000, ge=1, description="Listing entries compared per query")
    max_new_per_scan: int = Field(10000, ge=1, description="New files one scan may announce")
    scan_concurrency: int = Field(
        8, ge=1, le=256, description="Servers one replica scans at the same time")
    scan_deadline_seconds: float = Field(
        300.0, gt=0, description="The longest one scan may take, connect, handshake, login"
                                 " and listing together; then its connection is cut")
    scan_max_backoff_seconds: int = Field(
        3600, ge=1, description="The longest wait before the next scan of a failing server;"
                                " the wait doubles with each consecutive failure")
    reconcile_interval_seconds: float = Field(15.0, gt=0)
    redrive_after_seconds: int = Field(
        600, ge=10, description="A file idle this long in a waiting state is re-announced"
    )
    batch_max_files: int = Field(
        100, ge=1, description="Small new files announced together in one batch message;"
                               " 1: each on its own")
    batch_max_bytes: int = Field(
        16 * 1024 * 1024, ge=1, description="Bytes of the files of one batch at most")
    batch_file_max_bytes: int = Field(
        256 * 1024, ge=0, description="Files larger than this are announced on their own")
    remote_actions_per_scan: int = Field(
        100, ge=1, description="Post-fetch actions (delete, move) one scan does at most")
    remote_action_retry_seconds: float = Field(
        60.0, gt=0, description="A failed post-fetch action is tried again after this long,"
                                " doubled after each failure")
    remote_action_retry_max_seconds: float = Field(
        3600.0, gt=0, description="The longest wait between two tries of a post-fetch action")
    remote_action_max_attempts: int = Field(
        10, ge=1, description="Tries of a post-fetch action before it is given up")
