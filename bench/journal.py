"""Registering a partner through the admin API, and reading its files' journal."""

import time
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.environment import BenchServers
from tests.harness import HAPPY_PATH, api, register_server
from tests.processes import wait_for


def register(servers: BenchServers, admin_url: str, *, name: str, remote_dir: str,
             port: int | None = None, **overrides: object) -> int:
    """A server polled every second whose files are stable at first sight (min age 0), so
    that the time measured is the pipeline's, not a stability window's."""
    row = register_server(admin_url, servers.sftp, name=name, remote_dir=remote_dir,
                          port=port, token=servers.admin_token, min_file_age_s=0,
                          **overrides)
    return int(row["id"])


def disable(servers: BenchServers, admin_url: str, server_id: int) -> None:
    api(f"{admin_url}/api/servers/{server_id}", "PATCH", {"enabled": False},
        servers.admin_token)


@dataclass(frozen=True)
class Span:
    """Journal times of one server's files, from the database clock (seconds)."""

    first_discovered: float
    last_by_event: dict[str, float]  # event -> seconds after first_discovered
    events: dict[str, int]  # event -> how many

    @property
    def discovered_to_notified(self) -> float:
        return self.last_by_event["notified"]

    def lag(self) -> str:
        """When each stage finished its last file, after the first discovery."""
        return ", ".join(f"{event} +{self.last_by_event[event]:.2f}s"
                         for event in HAPPY_PATH if event in self.last_by_event)


class Journal:
    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(database_url, autocommit=True)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _counts(self, server_id: int) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT status, count(*) FROM files WHERE server_id = %s GROUP BY status",
            (server_id,)).fetchall()
        return dict(rows)

    def wait_notified(self, server_id: int, count: int, *, timeout: float) -> float:
        """Block until ``count`` files of the server are notified; returns when (monotonic).

        Fails at once when a file ends failed or missing: the run would only time out.
        """
        def done() -> bool:
            counts = self._counts(server_id)
            broken = {s: n for s, n in counts.items() if s in ("failed", "missing")}
            if broken:
                raise RuntimeError(f"files ended {broken}: {self.errors(server_id)}")
            return counts.get("notified", 0) >= count

        wait_for(done, timeout=timeout, interval=0.05, what=f"{count} files notified")
        return time.monotonic()

    def errors(self, server_id: int) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT error_message FROM files WHERE server_id = %s"
            " AND error_message IS NOT NULL LIMIT 5", (server_id,)).fetchall()
        return [r[0] for r in rows]

    def span(self, server_id: int) -> Span:
        rows = self._conn.execute(
            """
            SELECT e.event, count(*), min(e.at), max(e.at)
              FROM file_events e JOIN files f ON f.id = e.file_id
             WHERE f.server_id = %s GROUP BY e.event
            """, (server_id,)).fetchall()
        by_event = {event: (n, first, last) for event, n, first, last in rows}
        start = by_event["discovered"][1]
        return Span(
            first_discovered=start.timestamp(),
            last_by_event={e: (last - start).total_seconds()
                           for e, (_, _, last) in by_event.items()},
            events={e: n for e, (n, _, _) in by_event.items()},
        )

    def stage_means(self, server_id: int) -> str:
        """Mean time a file spent between consecutive events: waiting in a queue
        (``discovered -> download_started``) or being worked on (``download_started ->
        downloaded``), to show which stage holds files up."""
        rows = self._conn.execute(
            """
            SELECT prev, event, avg(extract(epoch FROM at - prev_at)), count(*)
              FROM (SELECT e.event, e.at,
                           lag(e.event) OVER w AS prev, lag(e.at) OVER w AS prev_at
                      FROM file_events e JOIN files f ON f.id = e.file_id
                     WHERE f.server_id = %s
                    WINDOW w AS (PARTITION BY e.file_id ORDER BY e.id)) steps
             WHERE prev IS NOT NULL GROUP BY prev, event
            """, (server_id,)).fetchall()
        order = {event: i for i, event in enumerate(HAPPY_PATH)}
        rows.sort(key=lambda r: order.get(r[1], 99))
        return ", ".join(f"{prev}->{event} {float(mean) * 1000:.0f} ms"
                         for prev, event, mean, _ in rows)

    def stage_details(self, server_id: int, event: str) -> list[dict[str, Any]]:
        """The ``details`` of every ``event`` row of the server (e.g. seconds, mb_per_s)."""
        rows = self._conn.execute(
            "SELECT e.details FROM file_events e JOIN files f ON f.id = e.file_id"
            " WHERE f.server_id = %s AND e.event = %s ORDER BY e.id", (server_id, event)
        ).fetchall()
        return [r[0] for r in rows]

    def sha256s(self, server_id: int) -> dict[str, str]:
        rows = self._conn.execute(
            "SELECT filename, sha256 FROM files WHERE server_id = %s", (server_id,)).fetchall()
        return dict(rows)

    def complete_journals(self, server_id: int) -> bool:
        """Every file of the server has exactly the happy path's events, in order."""
        rows = self._conn.execute(
            "SELECT array_agg(e.event ORDER BY e.id) FROM file_events e"
            " JOIN files f ON f.id = e.file_id WHERE f.server_id = %s GROUP BY f.id",
            (server_id,)).fetchall()
        return bool(rows) and all(r[0] == HAPPY_PATH for r in rows)
