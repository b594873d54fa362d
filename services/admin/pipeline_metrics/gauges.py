"""The pipeline gauges as a prometheus_client collector, computed at most once per
``max_age`` seconds and shared by every scrape meanwhile.

``collect`` (called by the exposition, synchronously) only yields what :meth:`refresh`
computed: the ``/metrics`` handler awaits the refresh first. A part whose source fails
or hangs (the database, the broker) is logged and left out of that scrape, never shown
stale.
"""

import asyncio
import logging
import time
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from contracts import Topology
from infra.file_states import Status
from infra.postgres import Pool
from services.admin.pipeline_metrics import queries
from services.admin.pipeline_metrics.queues import QueueDepths, pipeline_queues

log = logging.getLogger(__name__)

# Within Prometheus' default scrape timeout (10 s), so that a scrape gets the other parts.
PART_TIMEOUT_S = 5.0


class PipelineGauges(Collector):
    def __init__(self, pool: Pool, depths: QueueDepths, topology: Topology, *,
                 max_age: float, lost_after: int) -> None:
        self._pool = pool
        self._depths = depths
        self._topology = topology
        self._max_age = max_age
        self._lost_after = lost_after
        self._families: list[Metric] = []
        self._taken_at: float | None = None
        self._pending: asyncio.Task[None] | None = None

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    async def refresh(self) -> None:
        if self._taken_at is not None and time.monotonic() - self._taken_at < self._max_age:
            return
        if self._pending is None:
            self._pending = asyncio.create_task(self._refresh())
        # shield: a scrape that hangs up must not cancel the others' computation.
        await asyncio.shield(self._pending)

    async def _refresh(self) -> None:
        started = time.monotonic()
        try:
            parts = await asyncio.gather(
                *(asyncio.wait_for(part, PART_TIMEOUT_S)
                  for part in (self._files(), self._servers(), self._queues())),
                return_exceptions=True)
            families: list[Metric] = []
            for source, part in zip(("files", "servers", "queues"), parts, strict=True):
                if isinstance(part, BaseException):
                    log.warning("pipeline metrics: %s unavailable: %s", source,
                                part if str(part) else type(part).__name__)
                else:
                    families += part
            self._families = families
            self._taken_at = started
        finally:
            self._pending = None

    async def _files(self) -> list[Metric]:
        counted, oldest = await asyncio.gather(queries.files_by_status(self._pool),
                                               queries.oldest_unfinished(self._pool))
        by_status = GaugeMetricFamily("intake_files", "Files in each status",
                                      labels=["status"])
        counts = {row["status"]: row["n"] for row in counted}
        for status in Status:
            by_status.add_metric([status], counts.get(status, 0))
        age = GaugeMetricFamily(
            "intake_oldest_unfinished_file_age_seconds",
            "Age (since it was discovered or uploaded) of the oldest file in each unfinished"
            " status; 0: none is", labels=["status"])
        for row in oldest:
            age.add_metric([row["status"]], float(row["age_s"] or 0))
        return [by_status, age]

    async def _servers(self) -> list[Metric]:
        failures = GaugeMetricFamily(
            "intake_server_consecutive_failures",
            "Scans of an enabled partner server that failed since its last successful one",
            labels=["server"])
        last_ok = GaugeMetricFamily(
            "intake_server_last_success_timestamp_seconds",
            "When the last scan of an enabled partner server succeeded (none yet: no sample)",
            labels=["server"])
        for row in await queries.servers(self._pool):
            failures.add_metric([row["name"]], row["scan_failures"])
            if row["last_ok"] is not None:
                last_ok.add_metric([row["name"]], float(row["last_ok"]))
        return [failures, last_ok]

    async def _queues(self) -> list[Metric]:
        spools = await queries.live_spools(self._pool, lost_after=self._lost_after)
        depths = await self._depths.read(pipeline_queues(self._topology, spools))
        waiting = GaugeMetricFamily(
            "intake_queue_messages",
            "Messages ready in a pipeline queue (kind work: to be taken; retry: waiting for"
            " their backoff)", labels=["queue", "stage", "kind"])
        dead = GaugeMetricFamily(
            "intake_dlq_messages",
            "Messages in a stage's dead-letter queue: they crashed their consumer too often",
            labels=["queue", "stage"])
        for queue, depth in depths.items():
            if queue.kind == "dead_letter":
                dead.add_metric([queue.name, queue.stage], depth)
            else:
                waiting.add_metric([queue.name, queue.stage, queue.kind], depth)
        return [waiting, dead]
