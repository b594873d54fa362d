"""db-scale's retention check: a journal for every file, and a retention pass trimming it in
the background (the statement of ``infra.file_states.trimming``, batch after batch with
the default size and pause, as ``infra.retention`` runs it) while the queries are timed.
"""

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from bench.measure import timed
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
    finished: bool = False  # ran out of work before it was stopped


class BackgroundPass:
    """A retention pass over the database at ``url`` in a thread of its own, which the
    timings hold between two batches (``hold``) and let go into its next one (``release``,
    back once that batch has begun)."""

    def __init__(self, url: str) -> None:
        self.figures = PassFigures()
        self._url = url
        self._go, self._idle, self._began = threading.Event(), threading.Event(), threading.Event()
        self._stop = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="retention-pass", daemon=True)

    def hold(self) -> None:
        self._go.clear()
        self._idle.wait()

    def release(self) -> None:
        self._began.clear()
        self._go.set()
        while not self._began.wait(timeout=0.1):
            if not self._thread.is_alive():
                return  # the pass ran out of work (or failed: stop() says): none begins

    async def _work(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True,
                                                         row_factory=dict_row) as conn:
            while True:
                self._idle.set()
                await asyncio.to_thread(self._go.wait)
                if self._stop:
                    return
                self._idle.clear()
                self._began.set()
                at = time.perf_counter()
                batch = await file_states.trim_batch(conn, older_than_days=EVENTS_DAYS,
                                                     limit=BATCH_FILES)
                self.figures.batch_seconds.append(time.perf_counter() - at)
                self.figures.files += batch.files
                self.figures.events += batch.events
                if batch.files < BATCH_FILES:
                    self.figures.finished = True
                    return
                await asyncio.sleep(PAUSE_SECONDS)

    def _run(self) -> None:
        try:
            asyncio.run(self._work())
        except BaseException as exc:  # raised again in the bench's thread by stop()
            self._failure = exc
        finally:
            self._idle.set()
            self._began.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._go.set()
        self._thread.join()
        if self._failure is not None:
            raise self._failure


@contextmanager
def trimming(url: str) -> Iterator[BackgroundPass]:
    background = BackgroundPass(url)
    background.start()
    try:
        yield background
    finally:
        background.stop()


def alone_and_during(probes: dict[str, Callable[[], object]], background: BackgroundPass, *,
                     repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """For each probe, the median of ``repeat`` runs with the pass held between two batches
    and of as many runs started just as a batch begins, taking turns run by run (after a
    warm-up), so that the machine's drift slows both alike."""
    alone: dict[str, list[float]] = {label: [] for label in probes}
    during: dict[str, list[float]] = {label: [] for label in probes}
    for label, probe in probes.items():
        background.hold()
        probe()
        for _ in range(repeat):
            background.hold()
            alone[label].append(timed(probe))
            background.release()
            during[label].append(timed(probe))
    background.hold()
    return ({label: statistics.median(times) for label, times in alone.items()},
            {label: statistics.median(times) for label, times in during.items()})
