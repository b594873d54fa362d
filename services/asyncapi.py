"""The AsyncAPI document of every message Intake takes and sends, ``docs/asyncapi.json``.

Regenerate it with :data:`REGENERATE`; ``tests/unit/test_asyncapi.py`` fails while the
committed file differs. What each queue takes comes from the services' own handler tables
(``HANDLERS`` in their ``main.py``: the handlers' annotations are the messages), and so does
what is sent there; who sends it, from :data:`SENDERS`. Nothing connects, so no server is
needed. The names are those of the default settings (``INTAKE_AMQP_PREFIX=intake``, the
notifier's defaults) and the server is a placeholder: a local broker URL, or its
credentials, never reach the file. :func:`create_app` is also a factory for FastStream's
own CLI, with ``faststream[cli]`` installed (``faststream docs serve
services.asyncapi:create_app --factory``).

Like ``services/__main__.py`` this module knows every service; no service imports it.
"""

import json
import typing

from faststream import FastStream
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.specification import AsyncAPI

from contracts import SCHEMA_VERSION, SPOOLED, FileReady, Stage, Topology
from infra.broker import SpoolQueues, exchange, stage_queue, stage_router
from services.downloader.main import HANDLERS as DOWNLOADER
from services.notifier.main import HANDLERS as NOTIFIER
from services.notifier.settings import NotifierSettings
from services.processor.main import HANDLERS as PROCESSOR
from services.uploader.main import HANDLERS as UPLOADER

REGENERATE = "python -m services asyncapi > docs/asyncapi.json"

# Stands for every host's spool id in the names of the spooled stages' queues.
SPOOL = SpoolQueues("{spool}", expires_seconds=0)
PLACEHOLDER_URL = "amqp://rabbitmq:5672/"


# Who sends each stage's messages (retries and re-drives aside: see DESCRIPTION).
SENDERS = {
    Stage.DISCOVERED: "discovery, for each new stable file (small ones in batches)",
    Stage.DOWNLOADING: "the downloader, when a large file's download begins",
    Stage.DOWNLOADED: "the downloader, once a copy is complete in its spool",
    Stage.STORED: "the uploader once an object is verified, and the admin for an upload",
    Stage.JOBS: "the admin (POST /api/jobs) and the processor for its servers' rules",
}
# Each consuming service's handler table, one router each; and every queue's handler.
TABLES = (DOWNLOADER, UPLOADER, NOTIFIER, PROCESSOR)
HANDLERS = {stage: handler for table in TABLES for stage, handler in table.items()}


def taken(stage: Stage) -> object:
    """The messages a stage's queue takes, and so is sent: its handler's first parameter."""
    return next(iter(typing.get_type_hints(HANDLERS[stage]).values()))


_NOTIFY = NotifierSettings.model_fields
NOTIFY_EXCHANGE: str = _NOTIFY["notify_exchange"].default
NOTIFY_ROUTING_KEY: str = _NOTIFY["notify_routing_key"].default
NOTIFY_QUEUE: str = _NOTIFY["notify_queue"].default

DESCRIPTION = f"""\
Every message between Intake's services, and `FileReady`, the notice an external consumer
imports files from: the channel `{NOTIFY_QUEUE}:Publisher` (exchange `{NOTIFY_EXCHANGE}`,
routing key `{NOTIFY_ROUTING_KEY}`, bound to the queue `{NOTIFY_QUEUE}`). Bodies are JSON;
every message has a `version`, and its readers ignore fields they do not know. Besides the
senders named on each channel, a file whose work failed is sent to its stage again later,
and so is a stalled one (by discovery's reconciler, or an operator's retry in the admin).

Names are those of the default settings: every pipeline exchange and queue is under
`INTAKE_AMQP_PREFIX` (`intake` here); the notice's exchange, routing key and queue are
`INTAKE_NOTIFY_EXCHANGE`, `INTAKE_NOTIFY_ROUTING_KEY` and `INTAKE_NOTIFY_QUEUE`, on
`INTAKE_NOTIFY_AMQP_URL` (the pipeline's broker unless set). `{{spool}}` in a name is a host's
spool id. The server address is a placeholder for `INTAKE_AMQP_URL`.
"""


def notice_publisher(broker: RabbitBroker) -> None:
    """``FileReady`` as the notifier sends it: to the consumer's exchange, persistent and
    mandatory, routed to the consumer's queue."""
    broker.publisher(
        RabbitQueue(NOTIFY_QUEUE),
        RabbitExchange(NOTIFY_EXCHANGE, type=ExchangeType.DIRECT, durable=True),
        routing_key=NOTIFY_ROUTING_KEY,
        persist=True, mandatory=True, schema=FileReady, title=f"{NOTIFY_QUEUE}:Publisher",
        description=(f"Sent by the notifier, one per stored file, to the queue {NOTIFY_QUEUE};"
                     " its message_id is the file id, for a consumer to deduplicate on."),
    )


def create_app() -> FastStream:
    topology = Topology()
    broker = RabbitBroker(
        PLACEHOLDER_URL,
        description="The pipeline's RabbitMQ (INTAKE_AMQP_URL)",
    )
    for handlers in TABLES:
        broker.include_router(stage_router(topology, handlers, spool=SPOOL))
    for stage, sender in SENDERS.items():
        spool = SPOOL if stage in SPOOLED else None
        queue = stage_queue(topology, stage, spool)
        broker.publisher(
            queue, exchange(topology),
            routing_key=topology.routing_key(stage, None if spool is None else spool.spool),
            persist=True, mandatory=True, schema=taken(stage),
            title=f"{queue.name}:Publisher",
            description=f"Sent by {sender}, to the queue {queue.name}.",
        )
    notice_publisher(broker)
    return FastStream(broker, specification=AsyncAPI(
        title="Intake messages", version=str(SCHEMA_VERSION), description=DESCRIPTION,
    ))


def render() -> str:
    """The document as committed. Its keys are sorted: FastStream keeps a broker's
    subscribers and publishers in sets, so their order would change from run to run."""
    schema = create_app().schema.to_specification().to_jsonable()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
