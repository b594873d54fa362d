"""A file's statuses and the one table of moves between them.

Every write of ``files.status`` in this package checks its move against ``TRANSITIONS``
first, so a status change nobody planned is a bug found at once, not a row in a strange
state found later.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import NamedTuple


class Status(StrEnum):
    DISCOVERED = "discovered"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    STORING = "storing"
    STORED = "stored"
    NOTIFIED = "notified"
    FAILED = "failed"
    MISSING = "missing"


class Move(NamedTuple):
    source: Status | None  # None: the file is new
    target: Status
    event: str | None  # its file_events row; None: the claim's lease alone marks the file


_S = Status
_RESTARTS = (_S.DISCOVERED, _S.DOWNLOADED, _S.STORED)  # an operator's retry, see below
# Where a file's copy sits (or is being written) in one host's spool.
SPOOL_HELD = (_S.DOWNLOADING, _S.DOWNLOADED, _S.STORING)

TRANSITIONS: frozenset[Move] = frozenset(Move(*move) for move in [
    # from            to               event
    (None,            _S.DISCOVERED,   "discovered"),        # a stable new file on a server
    (None,            _S.STORED,       "uploaded"),          # an operator's upload, in the bucket
    (_S.DISCOVERED,   _S.DOWNLOADING,  "download_started"),
    (_S.DOWNLOADING,  _S.DOWNLOADED,   "downloaded"),
    (_S.DOWNLOADING,  _S.DISCOVERED,   "download_failed"),   # to be retried
    (_S.DOWNLOADING,  _S.FAILED,       "download_failed"),   # permanent, or attempts used up
    (_S.DOWNLOADING,  _S.MISSING,      "missing"),           # gone or changed on the server
    (_S.DOWNLOADED,   _S.STORING,      "upload_started"),
    (_S.STORING,      _S.STORED,       "stored"),
    (_S.STORING,      _S.DOWNLOADED,   "upload_failed"),
    (_S.STORING,      _S.FAILED,       "upload_failed"),
    (_S.STORED,       _S.STORED,       None),                # the notifier's lease
    (_S.STORED,       _S.STORED,       "notify_failed"),
    (_S.STORED,       _S.FAILED,       "notify_failed"),
    (_S.STORED,       _S.NOTIFIED,     "notified"),
    # The copy, or its whole spool, is gone: downloaded again by any host, unless the
    # file has no server (an upload) or lost too many copies in a row (losses.py).
    *((source, target, "spool_lost") for source in SPOOL_HELD
      for target in (_S.DISCOVERED, _S.FAILED)),
    # A failed file's copy waited in its spool past INTAKE_SPOOL_FAILED_KEEP_DAYS: the row
    # forgets the spool, a retry then downloads from the partner again (expiry.py).
    (_S.FAILED,       _S.FAILED,       "spool_expired"),
    # An operator's retry restarts a failed or missing file from its last good state.
    *((source, target, "retried") for source in (_S.FAILED, _S.MISSING) for target in _RESTARTS),
])

# A file's action on its partner once stored (remote_actions.py): journal events beside
# the status, which they never change; where the action stands is the row's
# remote_action_state (infra/migrations/0010_post_fetch.sql).
REMOTE_ACTION_EVENTS = frozenset({"remote_deleted", "remote_moved", "remote_changed",
                                  "remote_action_failed", "remote_action_retried"})
# Where a file's copy is safe in the bucket: only then may its partner's be touched.
ACTIONABLE = (_S.STORED, _S.NOTIFIED)

# Where a file rests for good, unless an operator retries it (the migration's partial index
# files_unfinished leaves these out).
FINISHED = frozenset({Status.NOTIFIED, Status.FAILED, Status.MISSING})
RETRYABLE = frozenset(move.source for move in TRANSITIONS
                      if move.event == "retried" and move.source is not None)


class IllegalMove(ValueError):
    """A status change that ``TRANSITIONS`` does not allow: a bug in the caller."""


def check(source: Status | None, target: Status, event: str | None) -> None:
    if Move(source, target, event) not in TRANSITIONS:
        raise IllegalMove(f"no move from {source or 'nothing'} to {target} by {event!r}")


def sql_list(statuses: Iterable[Status]) -> str:
    """``'a', 'b'``, for ``status IN (...)`` written into a statement's text: a constant
    list lets the planner match a partial index's predicate, where a parameter would not
    (psycopg prepares a statement run often, and its generic plan cannot)."""
    ordered = sorted(set(statuses), key=list(Status).index)  # one text for one set
    return ", ".join(f"'{status.value}'" for status in ordered)
