"""Timing external commands and reading the memory high-water mark of processes."""

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def venv_tool(name: str, install_hint: str) -> str:
    """A command installed beside this interpreter (the project's .venv), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: {install_hint}")
    return found


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    max_rss_mb: float
    output: Path
    cpu_seconds: float  # the command's own user + system time


def run_timed(command: list[str], *, env: dict[str, str] | None = None,
              output: Path, timeout: float = 3600) -> ProcessRun:
    """Run ``command`` to completion: wall time and peak RSS (``wait4``'s ru_maxrss).

    stdout goes to ``output`` (a listing may be large); a non-zero exit raises with stderr.
    """
    with output.open("wb") as out, output.with_suffix(".stderr").open("w+b") as err:
        started = time.monotonic()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)  # noqa: S603
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise TimeoutError(f"{command[0]} took longer than {timeout}s")
            time.sleep(0.005)
        elapsed = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command[:3])} exited {process.returncode}: "
                               f"{err.read().decode(errors='replace')[-2000:]}")
    return ProcessRun(elapsed, usage.ru_maxrss / 1024, output, usage.ru_utime + usage.ru_stime)


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _process_cpu(stat_text: str) -> float:
    """User + system CPU time of a process from its ``/proc/<pid>/stat``, with that of its
    children that ended and were waited for (the downloader's hashing child)."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# The servers besides ours whose CPU a scenario costs, by process name (``comm``).
SERVERS = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ", "weed": "SeaweedFS",
           "sshd": "sshd"}


@dataclass(frozen=True)
class CpuSnapshot:
    """The CPU time each process of interest has used so far: pid -> (name, seconds)."""

    processes: dict[int, tuple[str, float]]

    @classmethod
    def take(cls, named: dict[int, str]) -> "CpuSnapshot":
        """Of the processes ``named`` (pid -> name), and of every server process."""
        processes: dict[int, tuple[str, float]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            pid = int(stat.parent.name)
            try:
                text = stat.read_text()
            except OSError:  # it ended meanwhile
                continue
            name = named.get(pid) or SERVERS.get(text[text.index("(") + 1:text.rindex(")")])
            if name is not None:
                processes[pid] = (name, _process_cpu(text))
        ours = {pid: processes[pid] for pid in named if pid in processes}
        return cls(ours | processes)  # ours first, in their order, then the servers

    def used_since(self, before: "CpuSnapshot") -> dict[str, float]:
        """CPU used per name since ``before``, process by process. A process that ended in
        between is not subtracted: its CPU counts as far as its parent waited for it
        (sshd's sessions do not always reach their parent's count)."""
        used: dict[str, float] = {}
        for pid, (name, seconds) in self.processes.items():
            earlier = before.processes.get(pid)
            used[name] = used.get(name, 0.0) + seconds - (earlier[1] if earlier else 0.0)
        return used


def machine_cpu_seconds() -> float:
    """CPU time every process on the machine has used since boot (busy time of all cores)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``clear_refs`` 5, Linux >= 4.0; needs ownership)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved_medians(sides: list[dict[str, Callable[[], object]]], *,
                        repeat: int) -> list[dict[str, float]]:
    """For each label, the median seconds of ``repeat`` runs of every side's function, the
    sides taking turns run by run (after one warm-up each), so that a machine whose speed
    drifts meanwhile slows them alike."""
    runs: list[dict[str, list[float]]] = [{label: [] for label in side} for side in sides]
    for label in sides[0]:
        for side in sides:
            side[label]()
        for _ in range(repeat):
            for side, times in zip(sides, runs, strict=True):
                times[label].append(timed(side[label]))
    return [{label: statistics.median(times) for label, times in side.items()}
            for side in runs]


def machine() -> dict[str, object]:
    """Cores, memory and load right now: the context every number needs."""
    load = os.getloadavg()
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total_mb = int(meminfo["MemTotal"].split()[0]) // 1024
    return {"cores": os.cpu_count(), "mem_total_mb": total_mb,
            "loadavg": [round(x, 2) for x in load],
            "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
