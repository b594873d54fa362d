"""Issue 17's targets: a processing job's column sums of a large CSV, against polars.

The file (bench/csv_data.py: 30 columns with a few odd rows, its exact sums known from the
generator) is in the bench's bucket and, the same file, under the processor's local jobs
root. One job reads the object, one the local file; each is timed from its POST to its
end (bench/processors.py) and set against polars' streaming ``scan_csv`` of the same
object or file, in a process of its own (bench/polars_sums.py). Then 4 jobs at once on 1,
2 and 4 worker replicas, from the first POST to the last job's end, on a smaller file
(``Sizes.csv_scale_rows``) to keep the run short: from one S3 object (the target), and
from the local file (reported: on this machine SeaweedFS shares the workers' cores). The
CPU each process used meanwhile says what bounds each number. The scenario starts and
stops its own admin and processors; the pipeline's services are not needed.
"""

import json
import os
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from minio import Minio

from bench.context import Bench, sync_disks
from bench.csv_data import COLUMNS, SUMMED, GeneratedCsv, generate
from bench.measure import run_timed
from bench.processors import Batch, JobRun, Processors, Usage, most_at_once, using
from bench.results import Check, ScenarioResult, at_least, at_most, seconds

SCALE_JOBS = 4
REPLICAS = (1, 2, 4)


@dataclass(frozen=True)
class _Input:
    csv: GeneratedCsv
    key: str  # in the bench's bucket
    generated_s: float
    uploaded_s: float

    @property
    def local(self) -> dict[str, str]:
        return {"source": "local", "path": self.csv.path.name}

    def s3(self, bucket: str) -> dict[str, str]:
        return {"source": "s3", "bucket": bucket, "key": self.key}

    def timeout(self) -> float:
        return 300 + self.csv.rows / 5_000


@dataclass(frozen=True)
class _Polars:
    seconds: float  # from the scan to the result, in polars' process
    wall: float  # of the process: interpreter start and imports included
    cpu_s: float
    seaweed_s: float  # SeaweedFS's CPU meanwhile
    rss_mb: float
    rows: int
    sums: dict[str, str]


def _polars(bench: Bench, source: str, timeout: float) -> _Polars:
    sync_disks()
    out = bench.scratch("csv-sum-polars") / f"run-{time.monotonic_ns()}.json"
    run, usage = using([], lambda: run_timed(
        [sys.executable, "-m", "bench.polars_sums", source],
        env={**os.environ, **bench.env}, output=out, timeout=timeout))
    report = json.loads(out.read_text().splitlines()[-1])
    return _Polars(report["seconds"], run.seconds, run.cpu_seconds,
                   usage.cpu.get("SeaweedFS", 0.0), report["rss_mb"], report["rows"],
                   report["sums"])


def _prepare(store: Minio, bucket: str, root: Path, rows: int) -> _Input:
    started = time.monotonic()
    csv = generate(root / f"sums-{rows}.csv", rows)
    generated = time.monotonic() - started
    key = f"csv-sum/{csv.path.name}"
    started = time.monotonic()
    store.fput_object(bucket, key, str(csv.path))
    return _Input(csv, key, generated, time.monotonic() - started)


def _plain_get(store: Minio, bucket: str, key: str) -> Usage:
    """A GET of the object into Python, discarded: what S3 delivers to one reader."""
    def read() -> None:
        response = store.get_object(bucket, key)
        try:
            for _ in response.stream(1 << 20):
                pass
        finally:
            response.close()
            response.release_conn()

    return using([], read)[1]


def _wrong(sums: dict[str, str], rows: int, csv: GeneratedCsv) -> list[str]:
    """How a result differs from the generator's sums and row count."""
    got = {column: Decimal(value) for column, value in sums.items()}
    wrong = [f"column {c} {got.get(c)} (want {csv.sums.get(c)})"
             for c in sorted(got.keys() | csv.sums.keys()) if got.get(c) != csv.sums.get(c)]
    return wrong + ([f"rows {rows} (want {csv.rows})"] if rows != csv.rows else [])


def _job_wrong(runs: list[JobRun], csv: GeneratedCsv) -> list[str]:
    return [f"{r.source['source']} job {r.id}: {', '.join(w)}" for r in runs
            if (w := _wrong(r.result["columns"], r.result["rows"], csv))]


@dataclass(frozen=True)
class _Runs:
    full: _Input
    part: _Input  # the scaling jobs' file (``full`` when as small)
    get: Usage  # a plain GET of ``full``'s object
    s3_job: Batch
    s3_polars: _Polars
    local_job: Batch
    local_polars: _Polars
    scaled: dict[str, dict[int, Batch]]  # source ("S3", "local") -> replicas -> batch
    job_concurrency: int  # the jobs one worker should run at once

    def all_wrong(self) -> list[str]:
        wrong = _job_wrong([self.s3_job.job, self.local_job.job], self.full.csv)
        for by_replicas in self.scaled.values():
            for batch in by_replicas.values():
                wrong += _job_wrong(batch.runs, self.part.csv)
        return wrong

    def jobs(self) -> int:
        return 2 + sum(len(b.runs) for by in self.scaled.values() for b in by.values())


def _measure(bench: Bench) -> _Runs:
    servers, sizes = bench.servers, bench.sizes
    bucket = servers.bucket
    store = Minio(servers.s3.endpoint, access_key=servers.s3.access_key,
                  secret_key=servers.s3.secret_key, secure=False)
    if not store.bucket_exists(bucket):
        store.make_bucket(bucket)
    root = bench.scratch("csv-sum")
    full = _prepare(store, bucket, root, sizes.csv_rows)
    scale_rows = min(sizes.csv_scale_rows, sizes.csv_rows)
    part = full if scale_rows == sizes.csv_rows else _prepare(store, bucket, root, scale_rows)
    get = _plain_get(store, bucket, full.key)
    with Processors(bench.env, servers.admin_token, servers.work / "logs" / "csv-sum",
                    root) as processors:
        s3_job = processors.batch([full.s3(bucket)], full.timeout())
        s3_polars = _polars(bench, f"s3://{bucket}/{full.key}", full.timeout())
        local_job = processors.batch([full.local], full.timeout())
        local_polars = _polars(bench, str(full.csv.path), full.timeout())
        scaled: dict[str, dict[int, Batch]] = {"S3": {}, "local": {}}
        for replicas in REPLICAS:
            processors.scale(replicas)
            for name, source in (("S3", part.s3(bucket)), ("local", part.local)):
                scaled[name][replicas] = processors.batch([source] * SCALE_JOBS,
                                                          part.timeout())
    return _Runs(full, part, get, s3_job, s3_polars, local_job, local_polars, scaled,
                 int(bench.env.get("INTAKE_JOB_CONCURRENCY", "1")))


def _scale_label(r: _Runs) -> str:
    return f"{SCALE_JOBS} jobs x {r.part.csv.rows:,} rows" + (
        "" if r.part is r.full else f" (a smaller file, {r.part.csv.size_mb:.0f} MB)")


def _checks(r: _Runs, wrong: list[str]) -> list[Check]:
    csv = r.full.csv
    what = f"{csv.rows:,}-row CSV ({csv.size_mb:.0f} MB)"
    s3_ratio = r.s3_job.job.seconds / r.s3_polars.seconds
    local_ratio = r.local_job.job.seconds / r.local_polars.seconds
    rss = max(r.s3_job.rss_mb, r.local_job.rss_mb)
    checks = [
        Check(f"{what} from S3: job vs polars scan_csv streaming",
              seconds(r.s3_job.job.seconds), seconds(r.s3_polars.seconds), s3_ratio,
              "<= 1.5", at_most(s3_ratio, 1.5)),
        Check(f"{what} from local disk: job vs polars", seconds(r.local_job.job.seconds),
              seconds(r.local_polars.seconds), local_ratio, "<= 1.0",
              at_most(local_ratio, 1.0)),
        Check("processor worker peak RSS (S3 and local job)", f"{rss:.0f} MB",
              f"polars {max(r.s3_polars.rss_mb, r.local_polars.rss_mb):.0f} MB", None,
              "<= 200 MB", rss <= 200),
        Check(f"sums and rows of all {r.jobs()} jobs = the generator's",
              "yes" if not wrong else f"NO ({len(wrong)})", "exact Decimal", None,
              "identical", not wrong),
    ]
    for name, by_replicas in r.scaled.items():
        base = by_replicas[1].wall
        for replicas in REPLICAS[1:]:
            speedup = base / by_replicas[replicas].wall
            wanted = name == "S3" and replicas == 2
            checks.append(Check(
                f"{_scale_label(r)} from {name}: {replicas} replicas vs 1",
                seconds(by_replicas[replicas].wall), seconds(base), speedup,
                ">= 1.7 faster" if wanted else "-",
                at_least(speedup, 1.7) if wanted else None))
    return checks


def _speed(label: str, job: Batch, polars: _Polars, mb: float) -> str:
    return (f"{label}: job {seconds(job.job.seconds)} POST->finished (worker "
            f"{seconds(job.job.duration_s)}), {mb / job.job.seconds:.0f} MB/s; polars "
            f"{seconds(polars.seconds)} ({seconds(polars.wall)} with its start and imports), "
            f"{mb / polars.seconds:.0f} MB/s, {polars.cpu_s / polars.wall:.2f} cores"
            + (f" + SeaweedFS {polars.seaweed_s / polars.wall:.2f}" if polars.seaweed_s
               else ""))


def _notes(r: _Runs) -> list[str]:
    csv, mb = r.full.csv, r.full.csv.size_mb
    polars_wrong = {name: _wrong(p.sums, p.rows, csv)
                    for name, p in (("S3", r.s3_polars), ("local", r.local_polars))}
    polars_note = "polars' sums vs the generator's: " + "; ".join(
        f"{name} {', '.join(w) or 'equal'}" for name, w in polars_wrong.items())
    if any(polars_wrong.values()):
        polars_note += " (its lenient cast reads 1e3 as 1000: non-numeric to the processor)"
    notes = [
        f"file: {csv.rows:,} rows x {COLUMNS} columns (summed: "
        f"{', '.join(map(str, SUMMED))}), {mb:.0f} MB, generated in "
        f"{seconds(r.full.generated_s)}, uploaded in {seconds(r.full.uploaded_s)}",
        _speed("S3", r.s3_job, r.s3_polars, mb) + f"; a plain GET of the object into "
        f"Python: {seconds(r.get.wall)} ({mb / r.get.wall:.0f} MB/s, SeaweedFS "
        f"{r.get.cores('SeaweedFS'):.2f} cores)",
        _speed("local", r.local_job, r.local_polars, mb),
        f"S3 job: {r.s3_job.usage.describe()}",
        f"local job: {r.local_job.usage.describe()}",
        f"peak RSS: processor S3 job {r.s3_job.rss_mb:.0f} MB, local job "
        f"{r.local_job.rss_mb:.0f} MB"
        + ("" if r.s3_job.rss_reset and r.local_job.rss_reset else " (not reset: since start)")
        + f"; polars S3 {r.s3_polars.rss_mb:.0f} MB, local {r.local_polars.rss_mb:.0f} MB",
        polars_note,
    ]
    for name, by_replicas in r.scaled.items():
        notes += [f"{_scale_label(r)} at once from {name}, {n} replica(s): {seconds(b.wall)}, "
                  f"up to {most_at_once(b.runs)} running at once, "
                  f"{b.usage.describe(most_at_once(b.runs))}; peak RSS {b.rss_mb:.0f} MB"
                  for n, b in by_replicas.items()]
    alone = max(most_at_once(by_replicas[1].runs) for by_replicas in r.scaled.values())
    if alone > r.job_concurrency:
        notes.append(f"1 replica ran up to {alone} jobs at once although "
                     f"INTAKE_JOB_CONCURRENCY is {r.job_concurrency}: the replicas' speed-up"
                     f" is measured against one replica already running them side by side")
    return notes


def run(bench: Bench) -> ScenarioResult:
    r = _measure(bench)
    wrong = r.all_wrong()
    return ScenarioResult(
        "csv-sum", checks=_checks(r, wrong),
        peak_rss_mb={"processor": max(r.s3_job.rss_mb, r.local_job.rss_mb)},
        notes=_notes(r) + [f"WRONG: {w}" for w in wrong])
