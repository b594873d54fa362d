"""An operator's retry: a failed or missing file restarts from its last good state.

* its object is in the bucket (``stored_at`` set) → ``stored``, announced again;
* its verified copy is in a spool that still shows life (sha256 known) → ``downloaded``,
  stored again by that spool's uploader (which sends it on to be downloaded again should
  the copy be gone after all);
* otherwise → ``discovered``, fetched from its server again. An upload has no server to
  fetch from, so an upload that was never stored cannot be retried: it must be sent again.

The state change, its ``retried`` event and its stage message's outbox row commit
together; the message is published after. Should that publish fail, the outbox relay
sends it seconds later.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from infra import file_states
from infra.file_states import RETRYABLE, FileRow, Restart, Status
from infra.outbox import Outbox
from infra.postgres import Pool
from infra.settings import Settings
from infra.spool import registry
from services.admin.files import retry_queries as queries

log = logging.getLogger("intake.admin.retry")

BATCH = 500
_NIL = UUID(int=0)


class NotRetryable(Exception):
    """The file is not in a state an operator may retry from (or cannot restart at all)."""


@dataclass(frozen=True)
class Retried:
    file_id: UUID
    from_status: Status
    to_status: Status
    published: bool


def restart_status(row: FileRow, live_spools: set[str]) -> Status | None:
    """The last good state of a failed file; None when there is nothing to restart from."""
    if row.stored_at is not None and row.object_key:
        return Status.STORED
    if row.sha256 and row.spool_id in live_spools:
        return Status.DOWNLOADED
    if row.server_id is not None:
        return Status.DISCOVERED
    return None


async def _announce(outbox: Outbox, moves: Iterable[Restart],
                    moved: Iterable[FileRow]) -> list[Retried]:
    left = {move.file_id: move.from_status for move in moves}
    done = []
    for row in moved:
        published = await outbox.send(file_states.outgoing_for(row))
        log.info("retried", extra={"file_id": str(row.id), "event": "retried",
                                   "status": row.status})
        done.append(Retried(row.id, left[row.id], row.status, published))
    return done


async def _plan(pool: Pool, settings: Settings, rows: list[FileRow]) -> list[Restart]:
    live = await registry.alive(pool, {row.spool_id for row in rows if row.spool_id},
                                lost_after=settings.spool_lost_after_seconds)
    moves = []
    for row in rows:
        target = restart_status(row, live)
        if target is not None:
            moves.append(Restart(row.id, row.status, target))
    return moves


async def retry_file(pool: Pool, outbox: Outbox, settings: Settings,
                     file_id: UUID, *, by: str) -> Retried | None:
    """Retry one file; None when it does not exist, NotRetryable when it may not restart."""
    row = await queries.candidate(pool, file_id)
    if row is None:
        return None
    if row.status not in RETRYABLE:
        raise NotRetryable(
            f"file {file_id} is {row.status}; only failed or missing files can be retried"
        )
    moves = await _plan(pool, settings, [row])
    if not moves:
        raise NotRetryable(f"file {file_id} was uploaded and never stored; upload it again")
    moved = await file_states.restart(pool, moves, by=by)
    if not moved:
        raise NotRetryable(f"file {file_id} changed while it was being retried; reload it")
    (retried,) = await _announce(outbox, moves, moved)
    return retried


async def retry_failed_of_server(pool: Pool, outbox: Outbox, settings: Settings,
                                 server_id: int, *, by: str) -> int:
    """Retry every failed or missing file of one server, a batch at a time; returns the count."""
    total = 0
    after = _NIL
    while rows := await queries.failed_of_server(pool, server_id, after=after, limit=BATCH):
        after = rows[-1].id
        moves = await _plan(pool, settings, rows)
        moved = await file_states.restart(pool, moves, by=by)
        total += len(await _announce(outbox, moves, moved))
    return total
