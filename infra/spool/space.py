"""Free space on the spool volume: a new copy is started only if it fits with a reserve
left over (``INTAKE_SPOOL_RESERVE_BYTES``), by the downloader; and the volume's free and
total bytes as metrics of the processes that use it."""

import os
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from infra.failures import Reason
from infra.spool.paths import Spool


class SpoolFull(Exception):
    """Not enough free space on the spool volume for this file right now."""

    reason = Reason.SPOOL_FULL


def check_free_space(spool: Spool, needed: int, reserve: int) -> None:
    """Raise :class:`SpoolFull` unless ``needed`` bytes plus ``reserve`` are free."""
    free, _ = _space(spool)
    if free < needed + reserve:
        raise SpoolFull(
            f"spool has {free} bytes free; this file needs {needed} plus a reserve of {reserve}"
        )


def _space(spool: Spool) -> tuple[int, int]:
    """Bytes free for this (unprivileged) process, and the volume's size."""
    stats = os.statvfs(spool.root)
    return stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize


class SpoolSpace(Collector):
    """``intake_spool_free_bytes`` and ``intake_spool_capacity_bytes`` of one spool, read
    at each scrape: only the processes on its host can see them."""

    def __init__(self, spool: Spool, spool_id: str) -> None:
        self._spool = spool
        self._id = spool_id

    def collect(self) -> Iterator[Metric]:
        free, capacity = _space(self._spool)
        for name, text, value in (
                ("intake_spool_free_bytes", "Bytes free on the spool's volume", free),
                ("intake_spool_capacity_bytes", "Size of the spool's volume", capacity)):
            family = GaugeMetricFamily(name, text, labels=["spool"])
            family.add_metric([self._id], value)
            yield family
