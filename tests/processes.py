"""Intake services as real OS processes, for end-to-end and fault tests."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

SERVICES = ("discovery", "downloader", "uploader", "notifier", "admin")  # the pipeline's


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float, interval: float = 0.1,
             what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def listening_port(pid: int) -> int | None:
    """The TCP port process ``pid`` listens on: its sockets' inodes, looked up in the
    kernel's table of TCP sockets (state 0A is LISTEN)."""
    inodes = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
        table = Path(f"/proc/{pid}/net/tcp").read_text()
    except OSError:  # gone
        return None
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile
            if (target := str(fd.readlink())).startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    for line in table.splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:
            return int(fields[1].rsplit(":", 1)[1], 16)
    return None


class ServiceProcess:
    """One service as a process on a port of its own choosing (``INTAKE_HTTP_PORT=0``): a
    port picked here and passed on could be taken meanwhile, by another pytest-xdist
    worker's service or any outgoing connection, and ``/readyz`` would then be another
    process's answer."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = {**os.environ, **env, "INTAKE_HTTP_PORT": "0"}
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port the started process listens on."""
        if self._port is None:
            port = listening_port(self.process.pid) if self.process else None
            if port is None:
                raise RuntimeError(f"{self.name} is not listening yet")
            self._port = port
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._port = None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services", self.name], env=self.env,
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def is_ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        try:
            self.port  # noqa: B018 - known once the service listens
        except RuntimeError:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(self.is_ready, timeout=timeout, what=f"{self.name} /readyz")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Pipeline:
    """The five pipeline services (or ``services``, e.g. the admin and the processor)
    started against one test run's settings, some with replicas; ``service_env``: settings
    of single services on top of those (a fault of one)."""

    def __init__(self, env: dict[str, str], log_dir: Path,
                 replicas: dict[str, int] | None = None,
                 service_env: Mapping[str, Mapping[str, str]] | None = None,
                 services: Collection[str] = SERVICES) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self._service_env = service_env or {}
        self._log_dir = log_dir
        self.replicas: dict[str, list[ServiceProcess]] = {
            name: [self._process(name, i) for i in range((replicas or {}).get(name, 1))]
            for name in services
        }

    def _process(self, name: str, index: int) -> ServiceProcess:
        service = ServiceProcess(name, {**self.env, **self._service_env.get(name, {})},
                                 self._log_dir)
        service.log_path = self._log_dir / f"{name}-{index}.log"
        return service

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.replicas[name][0]

    @property
    def all(self) -> list[ServiceProcess]:
        return [service for group in self.replicas.values() for service in group]

    def start(self) -> "Pipeline":
        for service in self.all:
            service.start()
        for service in self.all:
            service.wait_ready()
        return self

    def replace(self, name: str, index: int = 0, *,
                without: Collection[str] = ()) -> ServiceProcess:
        """Start a fresh process in place of a (killed) replica, with its settings but
        those named in ``without``."""
        old = self.replicas[name][index]
        service = ServiceProcess(name, {k: v for k, v in old.env.items()
                                        if k != "INTAKE_HTTP_PORT" and k not in without},
                                 self._log_dir)
        service.log_path = self._log_dir / f"{name}-{len(self.replicas[name]) + index}.log"
        self.replicas[name][index] = service
        service.start().wait_ready()
        return service

    def add(self, name: str, **env: str) -> ServiceProcess:
        """Start one more process of ``name``, with ``env`` over the pipeline's settings:
        another host's, say, with a spool directory of its own."""
        service = ServiceProcess(name, {**self.env, **env}, self._log_dir)
        service.log_path = self._log_dir / f"{name}-{len(self.replicas[name])}.log"
        self.replicas[name].append(service)
        service.start().wait_ready()
        return service

    def add_host(self, spool_dir: Path, **env: str) -> list[ServiceProcess]:
        """Another host's pair: a downloader and an uploader sharing ``spool_dir`` (and so
        the spool identity kept in it)."""
        return [self.add(name, INTAKE_SPOOL_DIR=str(spool_dir), **env)
                for name in ("downloader", "uploader")]

    def remove_host(self, spool_dir: Path) -> None:
        """SIGKILL every process of the host whose spool is ``spool_dir`` and forget them:
        a host gone for good."""
        for group in self.replicas.values():
            for service in [s for s in group if s.env.get("INTAKE_SPOOL_DIR") == str(spool_dir)]:
                service.kill()
                group.remove(service)

    def stop(self) -> dict[str, int | None]:
        for service in self.all:
            if service.process is not None and service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        return {service.log_path.stem: service.stop() for service in self.all}

    def logs(self) -> str:
        return "\n".join(f"--- {s.log_path.stem} ---\n{s.log_tail()}" for s in self.all)
