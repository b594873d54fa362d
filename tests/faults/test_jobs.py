"""Processing jobs end to end: the admin's API queues them, processor workers (processes)
sum a CSV's columns from the bucket or the local root, through a storage link that drops,
a worker SIGKILLed mid-job, several jobs on several workers; every finished job is one
whole line of the shared results log."""

import csv
import json
import random
import urllib.error
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from minio import Minio

from tests.faults.proxy import FaultProxy
from tests.harness import api
from tests.leftovers import retire_earlier_tests
from tests.processes import Pipeline, wait_for

pytestmark = pytest.mark.faults

COLUMNS = 40


def write_csv(path: Path, rows: int, *, seed: int = 7) -> dict[str, str]:
    """A CSV with a header, integer and two-decimal columns and a few odd cells; returns
    the exact sums of columns 10, 20, 30 and 40 (the odd cells are not numbers)."""
    rng = random.Random(seed)
    sums = {column: Decimal(0) for column in range(10, COLUMNS + 1, 10)}
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([f"c{i}" for i in range(1, COLUMNS + 1)])
        for row in range(rows):
            cells = [str(rng.randint(-10**6, 10**6)) if i % 2 else
                     f"{Decimal(rng.randint(-10**8, 10**8)) / 100:.2f}"
                     for i in range(1, COLUMNS + 1)]
            if row % 9973 == 5:
                cells[9] = ""  # empty: skipped
            if row % 12347 == 11:
                cells[19] = "n/a"  # not a number: counted apart
            for column in sums:
                cell = cells[column - 1]
                if cell not in ("", "n/a"):
                    sums[column] += Decimal(cell)
            writer.writerow(cells)
    return {str(column): str(total) for column, total in sums.items()}


def same_sums(result: dict[str, Any], expected: dict[str, str]) -> bool:
    return {k: Decimal(v) for k, v in result["columns"].items()} == {
        k: Decimal(v) for k, v in expected.items()}


@pytest.fixture
def s3_client(s3, settings_env) -> Minio:
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)
    bucket = settings_env["INTAKE_S3_BUCKET"]
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    return client


@pytest.fixture
def jobs_root(tmp_path) -> Path:
    root = tmp_path / "jobs-root"
    root.mkdir()
    return root


@pytest.fixture
def start_workers(pipeline_env, tmp_path, jobs_root) -> Iterator[Callable[..., Pipeline]]:
    """The admin and ``workers`` processor replicas; stopped at the end of the test."""
    retire_earlier_tests(pipeline_env["INTAKE_DATABASE_URL"])
    started: list[Pipeline] = []

    def start(workers: int = 1, **env: str) -> Pipeline:
        pipeline = Pipeline(
            {**pipeline_env, "INTAKE_JOBS_LOCAL_ROOT": str(jobs_root),
             "INTAKE_RESULTS_LOG": str(tmp_path / "results.log"),
             "INTAKE_LEASE_SECONDS": "10", "INTAKE_JOB_PROGRESS_SECONDS": "0.5",
             "INTAKE_JOB_RECONCILE_SECONDS": "1", "INTAKE_OUTBOX_GRACE_SECONDS": "3", **env},
            tmp_path / f"logs-{len(started)}", {"processor": workers},
            services=("admin", "processor"))
        started.append(pipeline)
        return pipeline.start()

    yield start
    for pipeline in started:
        pipeline.stop()
        print(pipeline.logs())


def start_job(pipeline: Pipeline, token: str, body: dict[str, Any]) -> str:
    return api(f"{pipeline['admin'].url}/api/jobs", "POST", body, token)["id"]


def finished(pipeline: Pipeline, token: str, job_id: str, timeout: float = 120) -> dict:
    def done() -> dict | None:
        job = api(f"{pipeline['admin'].url}/api/jobs/{job_id}", token=token)
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(done, timeout=timeout, interval=0.2, what=f"job {job_id} to finish")


def refused(pipeline: Pipeline, token: str, path: str, body: dict | None = None) -> tuple:
    """(status, detail) of a request the admin turns down."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        api(f"{pipeline['admin'].url}{path}", "POST" if body else "GET", body, token)
    return caught.value.code, json.loads(caught.value.read())["detail"]


def log_lines(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "results.log").read_text().splitlines()]


def test_jobs_sum_objects_and_local_files_and_refuse_what_they_may_not_read(
        start_workers, s3_client, settings_env, jobs_root, tmp_path, admin_token):
    expected = write_csv(tmp_path / "sales.csv", 20_000)
    bucket = settings_env["INTAKE_S3_BUCKET"]
    s3_client.fput_object(bucket, "in/sales.csv", str(tmp_path / "sales.csv"))
    (jobs_root / "daily").mkdir()
    (jobs_root / "daily" / "sales.csv").write_bytes((tmp_path / "sales.csv").read_bytes())
    pipeline = start_workers()

    from_s3 = start_job(pipeline, admin_token, {"source": "s3", "bucket": bucket,
                                                "key": "in/sales.csv"})
    local = start_job(pipeline, admin_token, {"source": "local", "path": "daily/sales.csv"})

    for job_id in (from_s3, local):
        job = finished(pipeline, admin_token, job_id)
        assert job["status"] == "succeeded", job
        assert same_sums(job["result"], expected)
        assert job["result"]["rows"] == 20_000
        assert job["progress"]["rows_done"] == 20_000
    assert sorted(line["job_id"] for line in log_lines(tmp_path)) == sorted([from_s3, local])
    for path, body in [
        ("/api/jobs", {"source": "local", "path": "../sales.csv"}),
        ("/api/jobs", {"source": "local", "path": "/etc/passwd"}),
        ("/api/jobs", {"source": "s3", "bucket": bucket, "key": "in/none.csv"}),
        ("/api/jobs", {"source": "s3", "bucket": "someone-elses", "key": "x.csv"}),
    ]:
        status, detail = refused(pipeline, admin_token, path, body)
        assert status == 422, (body, detail)
    assert refused(pipeline, admin_token, "/api/jobs",
                   {"file_id": "00000000-0000-4000-8000-000000000000"})[0] == 404
    assert refused(pipeline, admin_token, f"/api/jobs/{'0' * 8}-0000-4000-8000-{'0' * 12}")[0] \
        == 404


def test_a_dropping_storage_link_and_a_killed_worker_still_give_one_right_answer(
        start_workers, s3_client, s3, settings_env, tmp_path, admin_token):
    expected = write_csv(tmp_path / "big.csv", 100_000)
    bucket = settings_env["INTAKE_S3_BUCKET"]
    s3_client.fput_object(bucket, "in/big.csv", str(tmp_path / "big.csv"))
    host, port = s3.endpoint.split(":")
    with FaultProxy(host, int(port)) as proxy:
        proxy.latency = 0.02  # a slow link (about 3 MB/s): the job runs long enough to be hurt
        pipeline = start_workers(INTAKE_S3_ENDPOINT=f"127.0.0.1:{proxy.port}")
        job_id = start_job(pipeline, admin_token, {"source": "s3", "bucket": bucket,
                                                   "key": "in/big.csv"})

        def job() -> dict:
            return api(f"{pipeline['admin'].url}/api/jobs/{job_id}", token=admin_token)

        wait_for(lambda: job()["progress"]["bytes_done"] > 0, timeout=60,
                 what="the job under way")
        dropped_at = job()["progress"]["bytes_done"]
        proxy.drop()  # the link drops: the worker resumes where it stopped
        wait_for(lambda: job()["progress"]["bytes_done"] > dropped_at + 1024 * 1024,
                 timeout=60, what="the read resumed past the drop")
        assert job()["status"] == "running", "not the window under test"
        pipeline["processor"].kill()  # and the worker dies mid-job
        proxy.latency = 0
        pipeline.replace("processor")

        job = finished(pipeline, admin_token, job_id, timeout=120)

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2
    assert same_sums(job["result"], expected)
    assert [line["job_id"] for line in log_lines(tmp_path)] == [job_id]


def test_many_jobs_on_two_workers_each_finish_once(start_workers, s3_client, settings_env,
                                                   tmp_path, admin_token):
    bucket = settings_env["INTAKE_S3_BUCKET"]
    expected = {}
    for i in range(6):
        expected[f"part-{i}.csv"] = write_csv(tmp_path / f"part-{i}.csv", 5_000, seed=i)
        s3_client.fput_object(bucket, f"in/part-{i}.csv", str(tmp_path / f"part-{i}.csv"))
    pipeline = start_workers(workers=2)

    ids = {start_job(pipeline, admin_token, {"source": "s3", "bucket": bucket,
                                             "key": f"in/{name}"}): name
           for name in expected}
    listing = api(f"{pipeline['admin'].url}/api/jobs", token=admin_token)
    assert {job["id"] for job in listing["items"]} >= set(ids)

    for job_id, name in ids.items():
        job = finished(pipeline, admin_token, job_id)
        assert job["status"] == "succeeded" and same_sums(job["result"], expected[name])
    assert Counter(line["job_id"] for line in log_lines(tmp_path)) == Counter(ids.keys())
    assert api(f"{pipeline['admin'].url}/api/jobs?status=running",
               token=admin_token)["in_progress"] == 0
