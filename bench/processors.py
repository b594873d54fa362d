"""The admin and processor replicas of the csv-sum scenario, and its jobs, timed, with
the CPU and memory they cost.

They run apart from bench/pipeline.py's services (which jobs do not need), with a local
jobs root and a results log of their own, and stop at the end of the scenario. A job's
time is the database's: ``created_at`` (written by the POST) to ``finished_at``.
"""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bench.context import sync_disks
from bench.measure import CpuSnapshot, machine_cpu_seconds, reset_peak, vm_hwm_mb
from tests.harness import api
from tests.processes import Pipeline

CORES = os.cpu_count() or 1
T = TypeVar("T")


@dataclass(frozen=True)
class JobRun:
    id: str
    source: dict[str, str]
    created: datetime
    started: datetime  # first claimed by a worker
    finished: datetime
    duration_s: float  # the worker's own: from its claim to the result
    result: dict[str, Any]

    @property
    def seconds(self) -> float:
        return (self.finished - self.created).total_seconds()


def wall_seconds(runs: list[JobRun]) -> float:
    """From the first job's POST to the last one's end."""
    return (max(r.finished for r in runs) - min(r.created for r in runs)).total_seconds()


def most_at_once(runs: list[JobRun]) -> int:
    """The most jobs running at the same time (claimed, not yet finished)."""
    return max(sum(r.started <= s.started < r.finished for r in runs) for s in runs)


@dataclass(frozen=True)
class Usage:
    """CPU seconds used while something ran, per process name (the workers are
    "processor", the servers SeaweedFS, PostgreSQL...) and by the whole machine."""

    wall: float
    cpu: dict[str, float]
    machine_s: float

    def cores(self, name: str) -> float:
        return self.cpu.get(name, 0.0) / self.wall

    def describe(self, parallel: int = 1) -> str:
        """The cores busy, and what that says bounds the run (``parallel`` jobs at once)."""
        worker, machine = self.cores("processor"), self.machine_s / self.wall
        busy = (f"worker(s) {worker:.2f} cores, SeaweedFS {self.cores('SeaweedFS'):.2f},"
                f" machine {machine:.2f} of {CORES}")
        if worker >= 0.85 * min(parallel, CORES):
            return f"{busy}: CPU-bound in the worker(s)"
        if machine >= 0.85 * CORES:
            return f"{busy}: CPU-bound on the machine's {CORES} cores"
        return f"{busy}: not CPU-bound"


def using(workers: list[int], work: Callable[[], T]) -> tuple[T, Usage]:
    """``work()``, and the CPU that ``workers`` (pids), the servers and the machine used
    while it ran."""
    before = CpuSnapshot.take(dict.fromkeys(workers, "processor"))
    machine, started = machine_cpu_seconds(), time.monotonic()
    done = work()
    wall = time.monotonic() - started
    after = CpuSnapshot.take(dict.fromkeys(workers, "processor"))
    return done, Usage(wall, after.used_since(before), machine_cpu_seconds() - machine)


@dataclass(frozen=True)
class Batch:
    """Jobs queued at once, and what they cost."""

    runs: list[JobRun]
    usage: Usage
    rss_mb: float  # the largest worker's peak meanwhile
    rss_reset: bool  # False: the kernel refused, rss_mb is the peak since the start

    @property
    def wall(self) -> float:
        return wall_seconds(self.runs)

    @property
    def job(self) -> JobRun:
        return self.runs[0]


class Processors:
    def __init__(self, env: dict[str, str], token: str, log_dir: Path,
                 jobs_root: Path) -> None:
        self._token = token
        self._pipeline = Pipeline(
            {**env, "INTAKE_JOBS_LOCAL_ROOT": str(jobs_root),
             "INTAKE_RESULTS_LOG": str(log_dir / "results.log")},
            log_dir, {"processor": 1}, services=("admin", "processor"))

    def __enter__(self) -> "Processors":
        self._pipeline.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pipeline.stop()

    @property
    def workers(self) -> list[int]:
        return [s.process.pid for s in self._pipeline.replicas["processor"] if s.process]

    def scale(self, replicas: int) -> None:
        """Add processor replicas up to ``replicas`` (the running ones stay)."""
        while len(self._pipeline.replicas["processor"]) < replicas:
            self._pipeline.add("processor")

    def reset_peaks(self) -> bool:
        return all([reset_peak(pid) for pid in self.workers])

    def peak_rss_mb(self) -> float:
        """The largest worker's VmHWM, in MiB."""
        return max(vm_hwm_mb(pid) for pid in self.workers)

    def run(self, sources: list[dict[str, str]], *, timeout: float) -> list[JobRun]:
        """Queue a job per source at once, wait for all; a failed job raises."""
        ids = [self._api("/api/jobs", "POST", source)["id"] for source in sources]
        return [self._finished(job_id, source, timeout)
                for job_id, source in zip(ids, sources, strict=True)]

    def batch(self, sources: list[dict[str, str]], timeout: float) -> Batch:
        """``run``, with the CPU and the workers' peak RSS it cost."""
        sync_disks()
        reset = self.reset_peaks()
        runs, usage = using(self.workers, lambda: self.run(sources, timeout=timeout))
        return Batch(runs, usage, self.peak_rss_mb(), reset)

    def _api(self, path: str, method: str = "GET", body: dict | None = None) -> Any:
        return api(f"{self._pipeline['admin'].url}{path}", method, body, self._token)

    def _finished(self, job_id: str, source: dict[str, str], timeout: float) -> JobRun:
        deadline = time.monotonic() + timeout
        while (job := self._api(f"/api/jobs/{job_id}"))["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s")
            time.sleep(0.1)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}\n"
                               f"{self._pipeline.logs()}")
        result = job["result"]
        created, started, finished = (datetime.fromisoformat(job[f"{at}_at"])
                                      for at in ("created", "started", "finished"))
        return JobRun(job_id, source, created, started, finished, result["duration_s"], result)
