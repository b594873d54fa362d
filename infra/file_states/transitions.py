"""Every change of a file's status, each a compare-and-set UPDATE plus its journal row.

A transition only happens when the file is in the state the caller expects, in the same
statement (so the same transaction) as its ``file_events`` row. A duplicate or stale
message therefore finds the file elsewhere and changes nothing.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg.types.json import Jsonb

from infra.file_states.rows import FileWithServer, file_with_server
from infra.file_states.states import FINISHED, Status, check
from infra.outbox import Outgoing, insert_after, queue
from infra.postgres import Pool

log = logging.getLogger("intake.files")


# Each transition is one statement: the compare-and-set UPDATE and the INSERT of its
# journal row are data-modifying parts of one WITH, which commits as a whole on the
# pool's autocommit connections. One round trip per state change instead of four (BEGIN,
# UPDATE, INSERT, COMMIT): at thousands of small files these round trips were most of
# every stage's CPU. The changed row comes back with its server's row (to_jsonb, NULL for an
# admin upload), so no stage looks the server up on its own; its encrypted credentials only
# for the one stage that connects (the download's claim). A change that a message must
# follow writes that message's outbox row in the same statement (infra/outbox.py).
_WITH_SERVER = """
SELECT f.*, {server} AS server
  FROM {rows} f LEFT JOIN servers s ON s.id = f.server_id"""
_SERVER = "to_jsonb(s) - 'password_enc' - 'private_key_enc'"
_SERVER_WITH_CREDENTIALS = "to_jsonb(s)"

_TRANSITION = """
WITH changed AS ({update}),
     journal AS (
         INSERT INTO file_events (file_id, event, details)
         SELECT id, %(event)s, %(details)s::jsonb || {extra} FROM changed
          WHERE %(event)s::text IS NOT NULL){then}
{changed_with_server}"""


def _transition(update: str, *, extra: str, then: str | None = None,
                server: str = _SERVER) -> str:
    """The statement of one transition: ``update`` (RETURNING *) journaled with its
    details and ``extra``, a jsonb expression over the changed row; ``then``, the outbox
    row of the message that follows (:func:`infra.outbox.insert_after`)."""
    return _TRANSITION.format(update=update, extra=extra,
                              then="" if then is None else f",\n     queued AS ({then})",
                              changed_with_server=_WITH_SERVER.format(rows="changed",
                                                                      server=server))


# A claim succeeds from the expected state when nobody holds a lease on it, or from the
# claimed state once its lease ran out (the previous worker died without finishing). A
# download's claim names the spool its copy goes to; a claim of the copy (the upload)
# succeeds only in that spool.
_CLAIM_UPDATE = """
UPDATE files
   SET status = %(to)s, attempts = attempts + 1, updated_at = now(),
       lease_until = now() + make_interval(secs => %(lease)s),
       spool_id = COALESCE(%(into_spool)s, spool_id)
 WHERE id = ANY(%(ids)s::uuid[])
   AND ((status = %(expect)s AND (lease_until IS NULL OR lease_until < now()))
        OR (status = %(to)s AND lease_until < now()))
   AND (%(from_spool)s::text IS NULL OR spool_id = %(from_spool)s)
RETURNING *"""
_CLAIMED = "jsonb_build_object('attempt', attempts, 'spool', spool_id)"
_CLAIM = _transition(_CLAIM_UPDATE, extra=_CLAIMED)
_CLAIM_WITH_CREDENTIALS = _transition(_CLAIM_UPDATE, extra=_CLAIMED,
                                      server=_SERVER_WITH_CREDENTIALS)

_RENEW = """
UPDATE files SET lease_until = now() + make_interval(secs => %(lease)s)
 WHERE id = ANY(%(ids)s::uuid[]) AND status = %(status)s AND lease_until IS NOT NULL
RETURNING id
"""

# A finished stage hands the next one a count of 0; a file at rest (notified) keeps the
# count of its last stage, so the console shows the attempts its journal tells of.
_FINISH = """
UPDATE files
   SET status = %(to)s, attempts = CASE WHEN %(at_rest)s THEN attempts ELSE 0 END,
       lease_until = NULL, error_message = NULL,
       updated_at = now(), {assignments}
 WHERE id = %(id)s AND status = %(expect)s
RETURNING *"""

_FINISHABLE = {"sha256", "md5", "bucket", "object_key", "etag", "stored_at", "notified_at",
               "spool_losses"}

# A failed attempt hands the file back to the previous state for a retry, or fails it
# for good when the error is permanent or the attempts are used up; only the retry sends
# its message on.
_RELEASE = _transition("""
UPDATE files
   SET status = CASE WHEN %(permanent)s OR attempts >= %(max_attempts)s
                     THEN %(failed)s ELSE %(back_to)s END,
       lease_until = NULL, error_message = %(error)s, updated_at = now()
 WHERE id = %(id)s AND status = %(expect)s
RETURNING *""", extra="jsonb_build_object('attempt', attempts, 'status', status)",
                       then=insert_after("changed", "changed.status = %(back_to)s"))

_MARK_MISSING = _transition("""
UPDATE files SET status = %(to)s, lease_until = NULL, error_message = %(reason)s,
       updated_at = now()
 WHERE id = %(id)s AND status = %(expect)s
RETURNING *""", extra="'{}'::jsonb")

_GET = _WITH_SERVER.format(rows="files", server=_SERVER) + " WHERE f.id = %(id)s"


async def _one_row(pool: Pool, statement: str, params: dict[str, Any]) -> FileWithServer | None:
    async with pool.connection() as conn, conn.cursor(row_factory=file_with_server) as cur:
        await cur.execute(statement, params)
        return await cur.fetchone()


async def get(pool: Pool, file_id: UUID) -> FileWithServer | None:
    """The file's row as the transitions return it (with its server)."""
    return await _one_row(pool, _GET, {"id": file_id})


@dataclass(frozen=True)
class Claim:
    """How a stage takes a file: from ``expect`` to ``to`` for ``lease_seconds``, journaled
    as ``event`` (None: not at all).

    ``to`` may equal ``expect``: the lease alone then marks the file as taken. A download
    names the spool it writes to (``into_spool``); work on the copy names the spool it
    reads from (``from_spool``), and takes only a file whose copy is there. The row's
    server comes with its encrypted credentials only when asked (``credentials``: the
    stage that connects to it).
    """

    expect: Status
    to: Status
    lease_seconds: int
    event: str | None
    into_spool: str | None = None
    from_spool: str | None = None
    credentials: bool = False


async def claim(pool: Pool, file_id: UUID, how: Claim, **details: Any) -> FileWithServer | None:
    """Take the file for one stage, or return None when someone else has it or it moved on.
    The event's details get the attempt's number and the spool."""
    rows = await claim_all(pool, [file_id], how, **details)
    return rows[0] if rows else None


async def claim_all(pool: Pool, file_ids: Sequence[UUID], how: Claim,
                    **details: Any) -> list[FileWithServer]:
    """:func:`claim` of many files in one statement (a batch): the rows of those taken,
    each journaled on its own; the others are someone else's, or moved on."""
    check(how.expect, how.to, how.event)
    statement = _CLAIM_WITH_CREDENTIALS if how.credentials else _CLAIM
    async with pool.connection() as conn, conn.cursor(row_factory=file_with_server) as cur:
        await cur.execute(statement, {
            "ids": list(file_ids), "expect": how.expect, "to": how.to,
            "lease": how.lease_seconds, "into_spool": how.into_spool,
            "from_spool": how.from_spool, "event": how.event, "details": Jsonb(details)})
        rows = await cur.fetchall()
    if how.event is not None:
        for row in rows:
            log.info(how.event, extra={"file_id": str(row.id), "event": how.event,
                                       "status": str(how.to)})
    return rows


async def renew_leases(pool: Pool, file_ids: Sequence[UUID], *, status: Status,
                       lease_seconds: int) -> bool:
    """Extend the claims of ``file_ids`` during long work; False means one was lost."""
    async with pool.connection() as conn:
        cur = await conn.execute(_RENEW, {"ids": list(file_ids), "status": status,
                                          "lease": lease_seconds})
        return len(await cur.fetchall()) == len(set(file_ids))


@asynccontextmanager
async def lease_kept(pool: Pool, file_ids: Sequence[UUID], *, status: Status,
                     lease_seconds: int) -> AsyncIterator[threading.Event]:
    """Renew the claims of ``file_ids`` every third of their lease while the body runs (a
    copy of a big file outlasts any lease); the event is set if one was lost to another
    worker, for work in a thread to stop or at least not to record its result."""
    lost = threading.Event()

    async def keep() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            try:
                if not await renew_leases(pool, file_ids, status=status,
                                          lease_seconds=lease_seconds):
                    lost.set()
                    return
            except Exception:  # the database may be back before the lease runs out
                log.warning("lease renewal failed", exc_info=True,
                            extra={"file_id": ",".join(map(str, file_ids))})

    keeper = asyncio.create_task(keep())
    try:
        yield lost
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


async def finish(
    pool: Pool,
    file_id: UUID,
    *,
    expect: Status,
    to: Status,
    event: str,
    columns: dict[str, Any],
    then: Outgoing | None = None,
    **details: Any,
) -> FileWithServer | None:
    """Complete a stage, storing what it produced, and write ``then``, the message the
    next stage needs, to the outbox with it; None if the claim was lost meanwhile."""
    unknown = set(columns) - _FINISHABLE
    if unknown:
        raise ValueError(f"not a finishable column: {sorted(unknown)}")
    check(expect, to, event)
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    statement = _transition(  # names checked against _FINISHABLE
        _FINISH.format(assignments=assignments), extra="'{}'::jsonb",
        then=None if then is None else insert_after("changed"))
    row = await _one_row(pool, statement, {
        "id": file_id, "expect": expect, "to": to, "at_rest": to in FINISHED, "event": event,
        "details": Jsonb(details),
        **columns, **({} if then is None else then.params())})
    if row is not None:
        log.info(event, extra={"file_id": str(file_id), "event": event, "status": str(to)})
    return row


class Finished(NamedTuple):
    """One file's share of a batch's :func:`finish_all`: the columns its stage produced
    (names from ``_FINISHABLE``) and its own event details."""

    file_id: UUID
    columns: dict[str, Any]
    details: dict[str, Any]


class FinishedBatch(NamedTuple):
    rows: list[FileWithServer]  # the files that moved: the others' claims were lost
    then: Outgoing | None  # the message that follows them, committed in the outbox


# A batch's finish in one statement: the files come as one jsonb array (one parameter,
# one JSON text to encode), each element's columns typed as a files row by
# jsonb_populate_record and its event details beside them.
_FINISH_ALL = """
WITH given AS (SELECT e FROM jsonb_array_elements(%(files)s) AS t(e)),
produced AS (
    SELECT p.*, g.e -> 'details' AS details
      FROM given g, jsonb_populate_record(NULL::files, g.e -> 'columns') AS p
),
changed AS (
UPDATE files f
   SET status = %(to)s, attempts = CASE WHEN %(at_rest)s THEN f.attempts ELSE 0 END,
       lease_until = NULL, error_message = NULL, updated_at = now(){assignments}
  FROM produced p
 WHERE f.id = p.id AND f.status = %(expect)s
RETURNING f.*
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT c.id, %(event)s, %(details)s::jsonb || p.details
      FROM changed c JOIN produced p ON p.id = c.id
)
{changed_with_server}"""


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def finish_all(
    pool: Pool,
    done: Sequence[Finished],
    *,
    expect: Status,
    to: Status,
    event: str,
    then: Callable[[list[FileWithServer]], Outgoing | None] | None = None,
    **details: Any,
) -> FinishedBatch:
    """:func:`finish` of a batch's files in one statement, each journaled with ``details``
    and its own; ``then`` makes the one message that follows the files that moved, which
    is written to the outbox in the same transaction."""
    names = {name for file in done for name in file.columns}
    if unknown := names - _FINISHABLE:
        raise ValueError(f"not a finishable column: {sorted(unknown)}")
    check(expect, to, event)
    statement = _FINISH_ALL.format(  # names checked against _FINISHABLE
        assignments="".join(f", {name} = p.{name}" for name in sorted(names)),
        changed_with_server=_WITH_SERVER.format(rows="changed", server=_SERVER))
    params = {
        "files": Jsonb([{"columns": {"id": str(file.file_id)}
                                    | {k: _json_value(v) for k, v in file.columns.items()},
                         "details": file.details} for file in done]),
        "expect": expect, "to": to, "at_rest": to in FINISHED, "event": event,
        "details": Jsonb(details)}
    outgoing = None
    async with pool.connection() as conn, conn.transaction():
        async with conn.cursor(row_factory=file_with_server) as cur:
            await cur.execute(statement, params)
            rows = await cur.fetchall()
        if rows and then is not None and (outgoing := then(rows)) is not None:
            await queue(conn, [outgoing])
    for row in rows:
        log.info(event, extra={"file_id": str(row.id), "event": event, "status": str(to)})
    return FinishedBatch(rows, outgoing)


async def release(
    pool: Pool,
    file_id: UUID,
    *,
    expect: Status,
    back_to: Status,
    event: str,
    error: str,
    permanent: bool,
    max_attempts: int,
    then: Outgoing,
    **details: Any,
) -> FileWithServer | None:
    """Record a failed attempt; the returned row's status says whether it will be retried,
    and only then is ``then``, the retry's message, written to the outbox with it.
    The event's details get the error, the attempt's number and the status it led to."""
    check(expect, back_to, event)
    check(expect, Status.FAILED, event)
    row = await _one_row(pool, _RELEASE, {
        "id": file_id, "expect": expect, "back_to": back_to, "failed": Status.FAILED,
        "error": error, "permanent": permanent, "max_attempts": max_attempts,
        "event": event, "details": Jsonb({**details, "error": error}), **then.params()})
    if row is not None:
        log.warning("%s: %s", event, error,
                    extra={"file_id": str(file_id), "event": event, "status": row.status})
    return row


async def mark_missing(
    pool: Pool, file_id: UUID, *, expect: Status, reason: str
) -> FileWithServer | None:
    check(expect, Status.MISSING, "missing")
    row = await _one_row(pool, _MARK_MISSING, {
        "id": file_id, "expect": expect, "to": Status.MISSING, "reason": reason,
        "event": "missing",
        "details": Jsonb({"reason": reason})})
    if row is not None:
        log.warning("missing: %s", reason, extra={"file_id": str(file_id), "event": "missing"})
    return row
