from pydantic import Field

from infra.retention import Policy
from infra.settings import PartnerKeySettings


class DiscoverySettings(PartnerKeySettings):
    scan_tick_seconds: float = Field(1.0, gt=0, description="How often due servers are looked for")
    scan_lease_seconds: int = Field(
        60, ge=5, description="How long a scan holds its server without renewing it (every"
                              " third of it while the scan runs): a dead replica's servers"
                              " are scanned by another after this long")
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
    retention_events_days: int = Field(
        90, ge=0, description="The journal of a file finished (notified, failed, missing) this"
                              " many days ago is trimmed to one journal_trimmed event;"
                              " 0: every event is kept forever")
    retention_notified_days: int = Field(
        0, ge=0, description="Notified files discovered this many days ago are removed and"
                             " counted into file_totals (per server and day), which the"
                             " console's totals include; 0: their rows are kept forever")
    retention_interval_seconds: float = Field(
        3600, gt=0, description="How often one discovery replica runs the retention pass")
    retention_batch_files: int = Field(
        500, ge=1, le=100_000,
        description="Files one statement (one short transaction) of the pass trims or removes")
    retention_pause_seconds: float = Field(
        0.1, ge=0, description="Pause between two batches of the retention pass")

    @property
    def retention(self) -> Policy:
        return Policy(events_days=self.retention_events_days,
                      notified_days=self.retention_notified_days,
                      batch_files=self.retention_batch_files,
                      pause_seconds=self.retention_pause_seconds)
