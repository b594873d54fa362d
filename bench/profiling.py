"""Optional py-spy sampling of every service while a scenario moves files (``--profile``).

Writes one collapsed-stack file per process (``<label>-<service>-<pid>.txt``, the format
flamegraph.pl and speedscope read) and prints where each service spent its CPU (py-spy
samples running threads only: waiting is not counted).
"""

import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench.measure import venv_tool
from bench.pipeline import BenchPipeline


def _py_spy() -> str:
    return venv_tool("py-spy", "scripts/install.sh installs it (the dev extra)")


@contextlib.contextmanager
def profiled(pipeline: BenchPipeline, out_dir: Path | None, label: str) -> Iterator[None]:
    if out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    recorders: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
    for service, pid in pipeline.processes():
        path = out_dir / f"{label}-{service}-{pid}.txt"
        command = [_py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                   "--nonblocking", "--output", str(path)]
        recorders.append((service, path, subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    try:
        yield
    finally:
        for _, _, recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for service, path, recorder in recorders:
            recorder.wait(60)
            if path.exists():
                print(f"--- {label} {service}: {path}\n{summary(path)}", file=sys.stderr)


def summary(path: Path, top: int = 12) -> str:
    """The functions most often on top of the stack while on CPU (self time)."""
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        leaves[stack.split(";")[-1]] += int(count)
    return "\n".join(f"{n * 100 / total:5.1f}%  {frame}" for frame, n in leaves.most_common(top))
