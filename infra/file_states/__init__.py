"""A file's life: its statuses, the moves between them, and every write of ``files.status``
and ``file_events``. Callers use this package's names; its modules split the work."""

from infra.file_states.arrivals import (
    Discovered,
    Recorded,
    one_each,
    record_discovered,
    record_upload,
)
from infra.file_states.expiry import expire_copies
from infra.file_states.losses import lose_copies_of_dead_spools, lose_copy
from infra.file_states.redriving import message_for, outgoing_for
from infra.file_states.restarts import Restart, restart
from infra.file_states.rows import FileRow, FileWithServer, file_row
from infra.file_states.states import (
    FINISHED,
    RETRYABLE,
    SPOOL_HELD,
    TRANSITIONS,
    IllegalMove,
    Status,
    sql_list,
)
from infra.file_states.summaries import summarize_batch
from infra.file_states.transitions import (
    Claim,
    Finished,
    FinishedBatch,
    claim,
    claim_all,
    finish,
    finish_all,
    get,
    lease_kept,
    mark_missing,
    release,
    renew_leases,
)
from infra.file_states.trimming import TRIMMED_EVENT, Trimmed, trim_batch

__all__ = [
    "FINISHED",
    "RETRYABLE",
    "SPOOL_HELD",
    "TRANSITIONS",
    "TRIMMED_EVENT",
    "Claim",
    "Discovered",
    "FileRow",
    "FileWithServer",
    "Finished",
    "FinishedBatch",
    "IllegalMove",
    "Recorded",
    "Restart",
    "Status",
    "Trimmed",
    "claim",
    "claim_all",
    "expire_copies",
    "file_row",
    "finish",
    "finish_all",
    "get",
    "lease_kept",
    "lose_copies_of_dead_spools",
    "lose_copy",
    "mark_missing",
    "message_for",
    "one_each",
    "outgoing_for",
    "record_discovered",
    "record_upload",
    "release",
    "renew_leases",
    "restart",
    "sql_list",
    "summarize_batch",
    "trim_batch",
]
