"""The transactional outbox: a state change and the message that moves the file on, one fact.

A transition that a stage message must follow writes that message into ``outbox`` in its
own statement (:func:`insert_after`) or transaction (:func:`queue`). Once it committed,
the service publishes the message (:meth:`Outbox.send`) and forgets the row, in batches so
that the fast path costs no round trip of its own. A process killed between the commit
and the publish, or a broker that refused the publish, leaves the row behind: every
pipeline service's relay (:meth:`Outbox.relay`) publishes the rows older than the grace
period, with confirms, and deletes them. A message published and merely queued behind a
backlog has no row any more, so it is never sent twice.
"""

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aio_pika.exceptions import DeliveryError
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from contracts import SPOOLED, Stage
from infra.broker import StagePublisher
from infra.postgres import Pool

log = logging.getLogger("intake.outbox")

FORGET_EVERY_SECONDS = 0.2
RELAY_BATCH = 200
# A relay pass stops at a publish this slow (a broker reconnecting); the rest waits.
PUBLISH_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Outgoing:
    """The message a state change sends on; ``delay``: a retry, due that many seconds on."""

    stage: Stage
    message: BaseModel
    message_id: str
    delay: float | None = None

    def params(self) -> dict[str, Any]:
        """The parameters of :func:`insert_after`."""
        return {"outbox_stage": str(self.stage),
                "outbox_body": Jsonb(self.message.model_dump(mode="json")),
                "outbox_message_id": self.message_id, "outbox_delay": self.delay}


_INSERT_AFTER = """INSERT INTO outbox (stage, body, message_id, not_before)
    SELECT %(outbox_stage)s, %(outbox_body)s, %(outbox_message_id)s,
           now() + make_interval(secs => %(outbox_delay)s::float8)
      FROM {rows} WHERE {where}"""


def insert_after(rows: str, where: str = "TRUE") -> str:
    """A data-modifying part of a transition's WITH: the outgoing message's row, once for
    each row of the CTE ``rows`` (the changed file: none when nothing changed) that meets
    ``where``."""
    return _INSERT_AFTER.format(rows=rows, where=where)


_QUEUE = """
INSERT INTO outbox (stage, body, message_id, not_before)
SELECT stage, body, message_id, now() + make_interval(secs => delay)
  FROM unnest(%(stages)s::text[], %(bodies)s::jsonb[], %(ids)s::text[], %(delays)s::float8[])
       AS t(stage, body, message_id, delay)
"""


async def queue(conn: AsyncConnection[DictRow], outgoing: Sequence[Outgoing]) -> None:
    """Write the rows of many outgoing messages in one statement, inside the caller's
    transaction (the one that made their state changes)."""
    if not outgoing:
        return
    await conn.execute(_QUEUE, {
        "stages": [str(o.stage) for o in outgoing],
        "bodies": [Jsonb(o.message.model_dump(mode="json")) for o in outgoing],
        "ids": [o.message_id for o in outgoing], "delays": [o.delay for o in outgoing]})


# Forgets one row per message published, the oldest of its id: should a second row of the
# same id (the same file sent to the same stage again) be written before the batch runs,
# it stays until its own publish is forgotten, or for the relay.
_FORGET = """
WITH sent AS (
    SELECT message_id, count(*) AS times FROM unnest(%(ids)s::text[]) AS s(message_id)
     GROUP BY message_id
), oldest AS (
    SELECT o.id, s.times, row_number() OVER (PARTITION BY o.message_id ORDER BY o.id) AS nth
      FROM outbox o JOIN sent s USING (message_id)
)
DELETE FROM outbox WHERE id IN (SELECT id FROM oldest WHERE nth <= times)
"""

# The relay's rows, locked for the pass; another replica's relay takes the next ones.
_DUE = """
SELECT id, stage, body, message_id, EXTRACT(EPOCH FROM not_before - now())::float8 AS delay
  FROM outbox
 WHERE created_at < now() - make_interval(secs => %(grace)s)
 ORDER BY created_at
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED
"""

_DELETE = "DELETE FROM outbox WHERE id = ANY(%(ids)s)"


class Outbox:
    """One per service. ``exit_after_commit`` (INTAKE_FAULT_EXIT_AFTER_COMMIT, for tests
    only) ends the process right after the commit of a message to that stage."""

    def __init__(self, pool: Pool, publisher: StagePublisher, *, grace_seconds: float,
                 exit_after_commit: Stage | None = None) -> None:
        self._pool = pool
        self._publisher = publisher
        self._grace = grace_seconds
        self._exit_after = exit_after_commit
        self._sent: list[str] = []

    async def send(self, outgoing: Outgoing) -> bool:
        """Publish a committed message; False when the broker did not take it, which is
        left to the relay (the state change is committed: nothing to raise)."""
        if outgoing.stage == self._exit_after:
            os._exit(137)  # after the commit, before the publish: the window under test
        try:
            if outgoing.delay is None:
                await self._publisher.send(outgoing.stage, outgoing.message,
                                           message_id=outgoing.message_id)
            else:
                await self._publisher.send_later(outgoing.stage, outgoing.message,
                                                 message_id=outgoing.message_id,
                                                 delay=outgoing.delay)
        except Exception as exc:
            log.warning("%s committed but not published (%s); the outbox relay sends it",
                        outgoing.message_id, str(exc) or exc.__class__.__name__,
                        extra={key: str(getattr(outgoing.message, key)) for key in
                               ("file_id", "batch_id") if hasattr(outgoing.message, key)})
            return False
        self._sent.append(outgoing.message_id)
        return True

    async def forget_sent(self) -> None:
        """Delete the rows of the messages published since the last call, in one statement."""
        sent, self._sent = self._sent, []
        if not sent:
            return
        try:
            async with self._pool.connection() as conn:
                await conn.execute(_FORGET, {"ids": sent})
        except BaseException:
            self._sent.extend(sent)
            raise

    async def keep_forgetting(self) -> None:
        """:meth:`forget_sent` every ``FORGET_EVERY_SECONDS``, until cancelled."""
        while True:
            await asyncio.sleep(FORGET_EVERY_SECONDS)
            try:
                await self.forget_sent()
            except Exception:  # kept for the next round; the relay would only send twice
                log.warning("could not forget published outbox rows", exc_info=True)

    async def relay(self) -> int:
        """Publish, with confirms, the rows older than the grace period and delete them;
        returns how many went. A pass stops at the first publish the broker refuses."""
        done: list[int] = []
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_DUE, {"grace": self._grace, "limit": RELAY_BATCH})
            for row in await cur.fetchall():
                if not await self._relay_one(row):
                    break
                done.append(row["id"])
            if done:
                await conn.execute(_DELETE, {"ids": done})
        return len(done)

    async def _relay_one(self, row: DictRow) -> bool:
        """Whether the row is done with: published, or dropped with its spool."""
        stage, body = Stage(row["stage"]), row["body"]
        spool = body.get("spool") if stage in SPOOLED else None
        extra = {"file_id": body.get("file_id"), "batch_id": body.get("batch_id"),
                 "event": "relayed", "stage": str(stage)}
        delay = None if row["delay"] is None else max(row["delay"], 0.001)
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await self._publisher.publish(stage, body, spool=spool,
                                              message_id=row["message_id"], delay=delay)
        except DeliveryError:
            if spool is None:
                log.warning("outbox relay: the broker refused %s", row["message_id"],
                            extra=extra)
                return False
            # The spool's queue is gone, and its copy with it: the reconciler's spool-loss
            # logic sends the file to be downloaded again.
            log.warning("outbox relay: the queue of spool %s is gone; %s dropped", spool,
                        row["message_id"], extra=extra)
            return True
        except Exception as exc:
            log.warning("outbox relay stopped: %s", str(exc) or exc.__class__.__name__,
                        extra=extra)
            return False
        log.info("relayed", extra=extra)
        return True
