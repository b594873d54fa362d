"""Structured logging and the Prometheus registry every service exposes."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

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
            "Time one stage took for one file (stage job: one processing job)",
            ["stage"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200),
            registry=registry,
        )
