"""Target 6: do the queries that run all the time cost the same at 10k and at 1M files?

Two databases of their own, ``files`` grown with generate_series to the smaller and to the
larger size, each with an admin process. In both the newest 100 rows are in flight (50
working under a live lease, 50 stalled), the rest finished, so the reconciler has the same
work to find. Each query is timed on the two databases in turn, a run on one then a run on
the other (after a warm-up of each), and the median of ``repeat`` runs taken on each side:
this machine's speed drifts by half from one minute to the next, and timing one size
after the other measured that drift as often as the table's size.

* discovery's batch query (``OBSERVE_BATCH``) for 1,000 listed files already known, as in
  every re-scan, inside a rolled-back transaction;
* the admin file list through HTTP: ``GET /api/files`` (first page) and a keyset page 90%
  deep (``cursor``);
* the reconciler's ``CLAIM_STALLED`` (limit 500) and its search for the copies of spools
  that stopped showing life (``LOSE_ON_DEAD_SPOOLS``), rolled back.

Then the larger database gets a journal (three events a file) and every query is timed
again there, alone and while a retention pass trims that journal in the background
(``bench/retention_load.py``: each timed run starts as a batch of the pass begins, taking
turns with a run while the pass waits between two batches), with the journal of one file
in flight (the console's timeline) beside them: they may cost at most ``FLAT`` times as
much.
"""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import retention_load
from bench.context import Bench
from bench.measure import interleaved_medians
from bench.results import Check, ScenarioResult, at_most, seconds
from infra.file_states import losses, trimming
from services.admin.cursor import encode_cursor
from services.admin.files.queries import FileFilter, list_files_query
from services.discovery import queries
from tests import servers as test_servers
from tests.harness import api
from tests.processes import ServiceProcess

FLAT = 2.0  # "scales with work": the big table may cost at most this much more

GROW = """
INSERT INTO files (server_id, remote_path, filename, size, remote_mtime, status, sha256,
                   md5, bucket, object_key, etag, created_at, updated_at, stored_at,
                   notified_at)
SELECT ids[1 + g %% array_length(ids, 1)], 'inbox/file-' || g || '.csv',
       'file-' || g || '.csv', 1000 + g %% 100000, 1700000000 + g, st,
       md5(g::text) || md5(g::text), md5(g::text), 'intake', 'scale/' || g, md5(g::text),
       at, at + interval '5 seconds',
       CASE WHEN st = 'notified' THEN at + interval '4 seconds' END,
       CASE WHEN st = 'notified' THEN at + interval '5 seconds' END
  FROM (SELECT array_agg(id ORDER BY id) AS ids FROM servers) s,
       generate_series(1, %(rows)s::bigint) g,
       LATERAL (SELECT CASE WHEN g %% 997 = 0 THEN 'failed'
                            WHEN g %% 1009 = 0 THEN 'missing'
                            ELSE 'notified' END AS st,
                       timestamptz '2026-01-01 00:00:00+00' + g * interval '5 seconds' AS at) x
"""

# The newest 100 files in flight: odd ranks working under a live lease, even ranks stalled.
IN_FLIGHT = """
WITH newest AS (
    SELECT id, row_number() OVER (ORDER BY created_at DESC, id DESC) AS rank
      FROM files ORDER BY created_at DESC, id DESC LIMIT 100)
UPDATE files f
   SET status = CASE WHEN n.rank % 2 = 1
                     THEN (ARRAY['downloading', 'storing'])[1 + n.rank % 4 / 2]
                     ELSE (ARRAY['discovered', 'downloaded', 'stored'])[1 + n.rank % 3] END,
       lease_until = CASE WHEN n.rank % 2 = 1 THEN now() + interval '1 hour' END,
       updated_at = CASE WHEN n.rank % 2 = 1 THEN now() ELSE now() - interval '1 hour' END
  FROM newest n WHERE f.id = n.id
"""


@dataclass
class Sized:
    """One database of files, its connection and the probes timed on it."""

    url: str
    conn: psycopg.Connection
    probes: dict[str, Callable[[], object]]
    timeline: Callable[[], object]  # GET /api/files/{id} of a file in flight, with its journal


def run(bench: Bench) -> ScenarioResult:
    small, large = bench.sizes.db_rows
    with ExitStack() as stack:
        sized = [stack.enter_context(_database(bench, rows)) for rows in (small, large)]
        timings = interleaved_medians([s.probes for s in sized], repeat=bench.sizes.repeat)
        plans = _plans(sized[1].conn)
        alone, trimmed, figures, journal, trim_plan = _while_trimming(sized[1],
                                                                      bench.sizes.repeat)

    result = ScenarioResult("db-scale")
    for label in timings[0]:
        at_small, at_large = timings[0][label], timings[1][label]
        ratio = at_large / at_small
        result.checks.append(Check(
            f"{label}: {large:,} rows vs {small:,}", seconds(at_large), seconds(at_small),
            ratio, f"<= {FLAT:.1f} (flat)", at_most(ratio, FLAT)))
    for label, at_rest in alone.items():
        ratio = trimmed[label] / at_rest
        result.checks.append(Check(
            f"{label}: during a retention pass vs not", seconds(trimmed[label]),
            seconds(at_rest), ratio, f"<= {FLAT:.1f} (flat)", at_most(ratio, FLAT)))
    result.notes = [f"plan at {large:,} rows, {label}: {plan}" for label, plan in plans.items()]
    batches = sorted(figures.batch_seconds)
    result.notes.append(
        f"retention pass over a journal of {journal:,} events at {large:,} rows:"
        f" {figures.events:,} events of {figures.files:,} files trimmed in {len(batches)}"
        f" batches of {retention_load.BATCH_FILES} files, each {seconds(batches[0])} to"
        f" {seconds(batches[-1])}, median {seconds(batches[len(batches) // 2])}"
        + (" (ran out of work before the timings ended)" if figures.finished else ""))
    result.notes.append(f"plan at {large:,} rows, retention batch: {trim_plan}")
    return result


def _while_trimming(sized: Sized, repeat: int) -> tuple[
        dict[str, float], dict[str, float], retention_load.PassFigures, int, str]:
    """The queries' medians alone and during a retention pass, on a database with a journal:
    (alone, during, what the pass did meanwhile, the journal's size before, the plan of a
    batch)."""
    journal = retention_load.fill_journal(sized.conn)
    plan = _plan(sized.conn, trimming.TRIM_BATCH,
                 {"days": retention_load.EVENTS_DAYS, "limit": retention_load.BATCH_FILES})
    probes = {**sized.probes, "GET /api/files/{id} with its journal": sized.timeline}
    with retention_load.trimming(sized.url) as background:
        alone, during = retention_load.alone_and_during(probes, background, repeat=repeat)
    return alone, during, background.figures, journal, plan


@contextmanager
def _database(bench: Bench, rows: int) -> Iterator[Sized]:
    name = f"intake_scale_{bench.servers.run_id}_{rows}"
    with test_servers.fresh_database(bench.servers.postgres_admin_url, name) as url:
        admin = ServiceProcess("admin", {**bench.env, "INTAKE_DATABASE_URL": url},
                               bench.servers.work / "logs")
        admin.log_path = admin.log_path.with_name(f"admin-db-scale-{rows}.log")
        admin.start()
        try:
            admin.wait_ready()  # it migrates the new database
            with psycopg.connect(url, autocommit=True) as conn:
                _fill(conn, rows)
                token = bench.servers.admin_token
                yield Sized(url, conn, _probes(conn, admin.url, token, rows),
                            _timeline(conn, admin.url, token))
        finally:
            admin.stop()


def _fill(conn: psycopg.Connection, rows: int) -> None:
    conn.execute("INSERT INTO servers (name, host, username, remote_dir, enabled)"
                 " SELECT 'scale-' || g, '127.0.0.1', 'bench', 'inbox', false"
                 " FROM generate_series(1, 10) g")
    conn.execute(GROW, {"rows": rows})
    conn.execute(IN_FLIGHT)
    conn.execute("VACUUM ANALYZE files")


STALLED = {"stale": 600, "limit": 500, "lost_after": 60}
LOST = {"lost_after": 60, "limit": 500, "max_losses": 3, "reason": "bench",
        "failed": "failed", "back_to": "discovered"}


def _probes(conn: psycopg.Connection, admin_url: str, token: str,
            rows: int) -> dict[str, Callable[[], object]]:
    server_id, batch = _known_batch(conn)
    deep = conn.execute("SELECT created_at, id FROM files ORDER BY created_at DESC, id DESC"
                        " OFFSET %s LIMIT 1", (rows * 9 // 10,)).fetchone()
    assert deep is not None
    cursor = encode_cursor((deep[0], deep[1]))

    def observe() -> None:
        _rolled_back(conn, queries.OBSERVE_BATCH, {
            "server_id": server_id, "entries": queries.listing_param(batch),
            "min_age": 0, "limit": 10_000})

    def claim() -> None:
        _rolled_back(conn, queries.CLAIM_STALLED, STALLED)

    def lose() -> None:
        _rolled_back(conn, losses.LOSE_ON_DEAD_SPOOLS, LOST)

    return {
        "discovery OBSERVE_BATCH x1000": observe,
        "GET /api/files first page": lambda: _get(f"{admin_url}/api/files", token),
        "GET /api/files page 90% deep": lambda: _get(
            f"{admin_url}/api/files?cursor={cursor}", token),
        "reconciler CLAIM_STALLED": claim,
        "reconciler copies of dead spools": lose,
    }


def _timeline(conn: psycopg.Connection, admin_url: str, token: str) -> Callable[[], object]:
    [in_flight] = conn.execute(  # type: ignore[misc]
        "SELECT id FROM files WHERE status NOT IN ('notified', 'failed', 'missing')"
        " ORDER BY created_at DESC LIMIT 1").fetchone()

    def timeline() -> None:
        if not api(f"{admin_url}/api/files/{in_flight}", token=token)["events"]:
            raise RuntimeError(f"file {in_flight} has no journal")

    return timeline


def _known_batch(conn: psycopg.Connection) -> tuple[int, list[tuple[str, int, int]]]:
    server_id = conn.execute("SELECT min(id) FROM servers").fetchone()[0]  # type: ignore[index]
    batch = conn.execute(
        "SELECT remote_path, size, remote_mtime FROM files WHERE server_id = %s"
        " ORDER BY md5(remote_path) LIMIT 1000", (server_id,)).fetchall()
    return server_id, [(r[0], r[1], r[2]) for r in batch]


def _rolled_back(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> None:
    try:
        with conn.transaction():
            conn.execute(query, params).fetchall()
            raise psycopg.Rollback
    except psycopg.Rollback:
        pass


def _get(url: str, token: str) -> None:
    if not api(url, token=token)["items"]:
        raise RuntimeError(f"{url} returned no files")


def _plans(conn: psycopg.Connection) -> dict[str, str]:
    first, first_params = list_files_query(FileFilter(), after=None, limit=51)
    return {
        "admin list": _plan(conn, first.as_string(conn), first_params),
        "CLAIM_STALLED": _plan(conn, queries.CLAIM_STALLED, STALLED),
        "copies of dead spools": _plan(conn, losses.LOSE_ON_DEAD_SPOOLS, LOST),
    }


def _plan(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> str:
    """The scans of the plan, e.g. ``Index Scan files_newest`` or ``Seq Scan files``."""
    [[plan]] = conn.execute(f"EXPLAIN (FORMAT JSON) {query}", params).fetchone()  # type: ignore[misc]
    scans: list[str] = []

    def visit(node: dict[str, Any]) -> None:
        kind = node["Node Type"]
        if "Scan" in kind:
            name = node.get("Index Name") or node.get("Relation Name")
            scans.append(f"{kind} {name}" if name else kind)
        for child in node.get("Plans", []):
            visit(child)

    visit(plan["Plan"])
    return ", ".join(scans)
