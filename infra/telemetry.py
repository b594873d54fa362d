"""Structured logging and the Prometheus registry every service exposes."""

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts import Stage
from infra.failures import Reason

# Attributes every LogRecord has; anything else passed via ``extra=`` is a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message", "asctime", "taskName", "color_message"  # uvicorn adds an ANSI-coloured copy
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ``extra=`` fields (file_id, event, ...) inlined."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paramiko logs every channel open at INFO; keep its warnings only.
    logging.getLogger("paramiko").setLevel(logging.WARNING)


class Work(NamedTuple):
    """A service's work on one stage's messages, as its metrics name it."""

    name: str  # the ``stage`` label of its durations and failures
    done: str  # the event that ends it
    direction: str | None  # of the bytes it moves


WORK = {Stage.DISCOVERED: Work("download", "downloaded", "in"),
        Stage.DOWNLOADED: Work("upload", "stored", "out"),
        Stage.STORED: Work("notify", "notified", None)}


class StageMetrics:
    """Per-service counters of state changes and transfer sizes/durations."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.transitions = Counter(
            "intake_file_transitions",
            "File state changes made by this service",
            ["event"],
            registry=registry,
        )
        self.bytes = Counter(
            "intake_bytes", "Bytes moved by this service", ["direction"], registry=registry
        )
        self.jobs = Counter(
            "intake_jobs", "Processing jobs this worker ended an attempt of, by outcome",
            ["outcome"], registry=registry,
        )
        self.duration = Histogram(
            "intake_stage_seconds",
            "Time one stage took for one file or batch (stage job: one processing job)",
            ["stage"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200),
            registry=registry,
        )
        self.failures = Counter(
            "intake_stage_failures",
            "Attempts of a stage's work on a file that failed, by stage and reason",
            ["stage", "reason"], registry=registry,
        )
        self.retries = Counter(
            "intake_stage_retries",
            "Failed attempts scheduled to be tried again (the others failed their file)",
            ["stage", "reason"], registry=registry,
        )
        self.in_flight_bytes = Gauge(
            "intake_in_flight_bytes",
            "Size of the files this process is copying now (in: download, out: upload)",
            ["direction"], registry=registry,
        )

    def expect(self, stage: Stage) -> None:
        """Show the series of the work on ``stage``'s messages from the start, at zero: a
        series born at its first increment shows no rate for that increment, and a panel
        or an alert has nothing to read before it."""
        work = WORK[stage]
        self.transitions.labels(work.done)
        self.duration.labels(work.name)
        if work.direction is not None:
            self.bytes.labels(work.direction)
            self.in_flight_bytes.labels(work.direction)
        for reason in Reason:
            self.failures.labels(work.name, reason)
            self.retries.labels(work.name, reason)

    def failed(self, stage: Stage, reason: Reason, *, retried: bool) -> None:
        """An attempt of the work on ``stage``'s messages failed."""
        name = WORK[stage].name
        self.failures.labels(name, reason).inc()
        if retried:
            self.retries.labels(name, reason).inc()

    @contextmanager
    def moving(self, direction: str, size: int) -> Iterator[None]:
        """``size`` bytes in flight in ``direction`` while the block runs."""
        gauge = self.in_flight_bytes.labels(direction)
        gauge.inc(size)
        try:
            yield
        finally:
            gauge.dec(size)


def register_build_info(registry: CollectorRegistry, commit: str | None) -> None:
    """``intake_build_info{version, commit}`` 1: which build answers. ``commit`` is the
    setting given (the image's), else git's when running from a checkout, else unknown."""
    info = Gauge("intake_build_info", "The running build: its version and git commit",
                 ["version", "commit"], registry=registry)
    info.labels(metadata.version("intake"), commit or _checkout_commit() or "unknown").set(1)


def _checkout_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 (git on the PATH)
            cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
            timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
