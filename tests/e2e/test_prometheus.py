"""A real Prometheus scrapes every running service: once files flowed, each query of the
Grafana dashboard (read from its JSON) returns data, every alert rule evaluates without
error, and the partner gauges tell the healthy partner from the unreachable one."""

import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness import Journal, api, make_inbox, register_server, write_random
from tests.monitoring import RULES, binary, panel_queries
from tests.processes import Pipeline, free_port

pytestmark = pytest.mark.e2e

FILES = {"a.csv": 2_000, "b.bin": 3 * 1024 * 1024, "c.txt": 10}
# A step of the scrape interval; Grafana's $__rate_interval is filled in as 10 s.
SCRAPE_SECONDS = 1


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        body = response.json()
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def has_data(self, query: str, since: float) -> bool:
        """Whether ``query`` over the range a dashboard shows (``since`` to now) has a
        value that is a number (histogram_quantile of no observation is NaN)."""
        data = self.get("/api/v1/query_range", query=query, start=since, end=time.time(),
                        step=SCRAPE_SECONDS)
        return any(math.isfinite(float(value)) for series in data["result"]
                   for _, value in series["values"])

    def value(self, query: str) -> float | None:
        result = self.get("/api/v1/query", query=query)["result"]
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(pipeline: Pipeline, tmp_path: Path) -> Iterator[Prometheus]:
    """Prometheus scraping each service process of the pipeline every second, with the
    alert rules of deploy/monitoring loaded."""
    jobs: dict[str, list[str]] = {}
    for service in pipeline.all:
        jobs.setdefault(service.name, []).append(f"127.0.0.1:{service.port}")
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s",
                   "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": name, "static_configs": [{"targets": targets}]}
                           for name, targets in jobs.items()],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None, f"prometheus exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"prometheus not ready:\n{log.read_text()}"
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        process.terminate()
        process.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def poll(what: str, missing: Any, timeout: float = 120) -> None:
    """Call ``missing`` until it returns nothing (what is still missing), or fail with the
    last answer after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while left := missing():
        assert time.monotonic() < deadline, f"{what} after {timeout}s: {left}"
        time.sleep(1)


def test_prometheus_reads_every_panel_and_rule_from_the_services(
        pipeline, prometheus, sftp_server, database_url, admin_token):
    def targets_down() -> list[str]:
        active = prometheus.get("/api/v1/targets")["activeTargets"]
        return [f"{t['labels']['job']}: {t['lastError']}" for t in active
                if t["health"] != "up"] or ([] if active else ["no targets"])

    # Scraped before the files come, so that their rates have a before and an after.
    poll("targets not up", targets_down)
    started = time.time()
    admin = pipeline["admin"].url
    remote, local = make_inbox(sftp_server, "prometheus")
    for name, size in FILES.items():
        write_random(local / name, size)
    good = register_server(admin, sftp_server, name="partner-metrics", remote_dir=remote,
                           token=admin_token)
    # Nothing listens on the discard port: every scan of this partner fails.
    bad = register_server(admin, sftp_server, name="partner-unreachable", remote_dir=remote,
                          port=9, token=admin_token)
    journal = Journal(database_url, good["id"])
    try:
        journal.wait_until_all(len(FILES), timeout=180)
        queries = panel_queries()
        poll("panels without data",
             lambda: [title for title, query in queries
                      if not prometheus.has_data(query, since=started)])

        def rules_not_evaluated() -> list[str]:
            groups = prometheus.get("/api/v1/rules")["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            broken = [f"{r['name']}: {r['lastError']}" for r in rules if r["health"] == "err"]
            assert not broken, broken
            return [rule["name"] for rule in rules if rule["health"] != "ok"] or (
                [] if rules else ["no rules loaded"])

        poll("rules not evaluated", rules_not_evaluated)

        def partners_not_told_apart() -> list[str]:
            failures = 'intake_server_consecutive_failures{server="%s"}'
            last_ok = 'intake_server_last_success_timestamp_seconds{server="%s"}'
            wrong = []
            if not (prometheus.value(failures % bad["name"]) or 0) > 0:
                wrong.append("no failures of the unreachable partner")
            if prometheus.value(failures % good["name"]) != 0:
                wrong.append("failures of the healthy partner")
            if not (prometheus.value(last_ok % good["name"]) or 0) >= started - 1:
                wrong.append("no recent success of the healthy partner")
            if prometheus.value(last_ok % bad["name"]) is not None:
                wrong.append("a success of the unreachable partner")
            return wrong

        poll("partner gauges wrong", partners_not_told_apart)
        notified = prometheus.value('max(intake_files{status="notified"})')
        assert notified is not None and notified >= len(FILES)
        moved = prometheus.value('sum(intake_bytes_total{direction="out"})')
        assert moved is not None and moved >= sum(FILES.values())
    finally:
        journal.close()
        api(f"{admin}/api/servers/{bad['id']}", "DELETE", None, admin_token)
