"""db-scale's retention check: a journal for every file, and a retention pass trimming it in
the background (the statements of ``infra.file_states.trimming``, batch after batch with
the default size and pause, as ``infra.retention`` runs them) while the queries are timed.
"""

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from infra import file_states
from services.discovery.settings import DiscoverySettings

# Three events per file (the bench's files were all discovered in 2026's first months, so
# every finished one is past the default age).
JOURNAL = """
INSERT INTO file_events (file_id, at, event, details)
SELECT f.id, f.created_at + e.after, e.event,
       CASE WHEN e.event = 'stored' THEN jsonb_build_object('size', f.size)
            ELSE '{}'::jsonb END
  FROM files f,
       (VALUES ('discovered', interval '0'), ('stored', interval '4 seconds'),
               ('notified', interval '5 seconds')) AS e(event, after)
"""

_DEFAULTS = DiscoverySettings.model_fields
EVENTS_DAYS: int = _DEFAULTS["retention_events_days"].default
BATCH_FILES: int = _DEFAULTS["retention_batch_files"].default
PAUSE_SECONDS: float = _DEFAULTS["retention_pause_seconds"].default


def fill_journal(conn: psycopg.Connection) -> int:
    """A journal for every file; returns its number of events."""
    conn.execute(JOURNAL)
    conn.execute("VACUUM ANALYZE file_events")
    [count] = conn.execute("SELECT count(*) FROM file_events").fetchone()  # type: ignore[misc]
    return int(count)


@dataclass
class PassFigures:
    """What the background pass did while it ran."""

    batch_seconds: list[float] = field(default_factory=list)
    files: int = 0
    events: int = 0
    seconds: float = 0.0
    finished: bool = False  # ran out of work before it was stopped


@contextmanager
def trimming(url: str) -> Iterator[PassFigures]:
    """A retention pass over the database at ``url`` from entry, stopped at exit; its first
    batch is done when the body starts."""
    figures = PassFigures()
    started, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def work() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True,
                                                         row_factory=dict_row) as conn:
            began = time.perf_counter()
            while not stop.is_set():
                at = time.perf_counter()
                batch = await file_states.trim_batch(conn, older_than_days=EVENTS_DAYS,
                                                     limit=BATCH_FILES)
                figures.batch_seconds.append(time.perf_counter() - at)
                figures.files += batch.files
                figures.events += batch.events
                started.set()
                if batch.files < BATCH_FILES:
                    figures.finished = True
                    break
                await asyncio.sleep(PAUSE_SECONDS)
            figures.seconds = time.perf_counter() - began

    def run() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:  # handed to the bench's thread below
            failure.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=run, name="retention-pass", daemon=True)
    thread.start()
    started.wait()
    try:
        yield figures
    finally:
        stop.set()
        thread.join()
    if failure:
        raise failure[0]
