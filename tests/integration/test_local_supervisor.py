"""run.sh's local mode runs the services under supervisord (scripts/supervisor.sh): one that
is killed is started again, and stop.sh's stop leaves none running. Two stand-in programs
take the services' place, with the config the script writes for run.sh."""

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "supervisor.sh"


def supervisor(*args: str) -> str:
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=90,
                          check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def pid_of(state: Path, name: str) -> int | None:
    ctl = [str(ROOT / ".venv/bin/python"), "-m", "supervisor.supervisorctl",
           "-c", str(state / "supervisord.conf"), "pid", f"intake:{name}"]
    out = subprocess.run(ctl, capture_output=True, text=True, timeout=30, check=False).stdout
    return int(out) if out.strip().isdigit() and int(out) > 0 else None


def gone(pid: int) -> bool:
    """Exited (reaped, or a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def wait_for(what: str, check: Callable[[], bool], seconds: float = 45) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose "python" is a stand-in that runs until killed."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    state = tmp_path / "state"
    supervisor("start", str(state), str(fake), "discovery:8101", "notifier:8104")
    try:
        yield state
    finally:
        supervisor("stop", str(state))


def test_a_killed_service_is_started_again(state: Path) -> None:
    wait_for("both programs to run", lambda: supervisor("status", str(state), "discovery")
             == "RUNNING" and supervisor("status", str(state), "notifier") == "RUNNING")
    killed = pid_of(state, "discovery")
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    wait_for("discovery to be started again",
             lambda: pid_of(state, "discovery") not in (None, killed))
    assert supervisor("status", str(state), "notifier") == "RUNNING"
    config = (state / "supervisord.conf").read_text()
    assert "command=" in config and "-m services discovery" in config
    assert 'environment=INTAKE_HTTP_PORT="8104"' in config


def test_stop_stops_every_program(state: Path) -> None:
    wait_for("discovery to run", lambda: pid_of(state, "discovery") is not None)
    pids = [pid_of(state, name) for name in ("discovery", "notifier")]
    supervisor("stop", str(state))
    for pid in pids:
        assert pid is not None
        wait_for(f"pid {pid} to exit", lambda pid=pid: gone(pid))
