"""The five services as processes, with a downloader set that scenarios can swap.

tests/processes.Pipeline gives every service the same environment; the far-servers
scenario needs the downloader alone with other replicas and prefetch, so the core services
(discovery, uploader, notifier, admin) start once per run and only the downloaders restart.
"""

from dataclasses import dataclass
from pathlib import Path

from bench.measure import CpuSnapshot, reset_peak, vm_hwm_mb
from tests.processes import ServiceProcess

CORE = ("discovery", "uploader", "notifier", "admin")


@dataclass(frozen=True)
class DownloaderSet:
    replicas: int = 1
    prefetch: int | None = None  # None: the service's default (INTAKE_PREFETCH unset)
    streaming: bool = True  # False: large downloads are not announced to the uploader

    def describe(self) -> str:
        prefetch = "default" if self.prefetch is None else self.prefetch
        return f"{self.replicas} replica(s), prefetch {prefetch}" + (
            "" if self.streaming else ", upload after download")

    def env(self) -> dict[str, str]:
        extra = {} if self.prefetch is None else {"INTAKE_PREFETCH": str(self.prefetch)}
        if not self.streaming:
            extra["INTAKE_STREAM_UPLOAD_MIN_BYTES"] = "0"
        return extra


class BenchPipeline:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self._env = env
        self._log_dir = log_dir
        self._started = 0
        self.core = {name: self._process(name, {}) for name in CORE}
        self.downloaders: list[ServiceProcess] = []
        self.downloader_set: DownloaderSet | None = None

    def _process(self, name: str, extra: dict[str, str]) -> ServiceProcess:
        service = ServiceProcess(name, {**self._env, **extra}, self._log_dir)
        service.log_path = self._log_dir / f"{name}-{self._started}.log"
        self._started += 1
        return service

    @property
    def admin_url(self) -> str:
        return self.core["admin"].url

    def start(self, downloaders: DownloaderSet | None = None) -> "BenchPipeline":
        for service in self.core.values():
            service.start()
        self.use(downloaders or DownloaderSet())
        for service in self.core.values():
            service.wait_ready()
        return self

    def use(self, wanted: DownloaderSet) -> None:
        """Run exactly ``wanted`` downloaders, restarting them only if that changes."""
        if wanted == self.downloader_set:
            return
        for service in self.downloaders:
            service.stop()
        self.downloaders = [self._process("downloader", wanted.env()).start()
                            for _ in range(wanted.replicas)]
        for service in self.downloaders:
            service.wait_ready()
        self.downloader_set = wanted

    def processes(self) -> list[tuple[str, int]]:
        found = [(name, s.process.pid) for name, s in self.core.items() if s.process]
        found += [("downloader", s.process.pid) for s in self.downloaders if s.process]
        return found

    def reset_peaks(self) -> bool:
        """Start counting peak RSS from now; False if the kernel refused for any process."""
        return all([reset_peak(pid) for _, pid in self.processes()])

    def peak_rss_mb(self) -> dict[str, float]:
        """VmHWM per service (the largest replica's), in MiB."""
        peaks: dict[str, float] = {}
        for name, pid in self.processes():
            peaks[name] = max(peaks.get(name, 0.0), vm_hwm_mb(pid))
        order = ["discovery", "downloader", "uploader", "notifier", "admin"]
        return {name: peaks[name] for name in order if name in peaks}

    def cpu_snapshot(self) -> CpuSnapshot:
        """CPU used so far by every service process and every server process (PostgreSQL,
        RabbitMQ, SeaweedFS, sshd); ``later.used_since(earlier)`` sums it per name."""
        return CpuSnapshot.take({pid: name for name, pid in self.processes()})

    def stop(self) -> None:
        for service in [*self.downloaders, *self.core.values()]:
            service.stop()

    def logs(self, lines: int = 20) -> str:
        return "\n".join(f"--- {s.log_path.name} ---\n{s.log_tail(lines)}"
                         for s in [*self.core.values(), *self.downloaders])
