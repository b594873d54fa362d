"""The benchmark harness runs end to end at tiny sizes (``python -m bench.run --smoke``).

Checks the harness, not the targets: at these sizes the ratios mean nothing. Needs what
./test.sh needs (root for the private sshd, PostgreSQL, RabbitMQ, SeaweedFS from .venv).
Run: ``.venv/bin/pytest bench/test_smoke.py``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def test_every_scenario_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    started = time.monotonic()
    run = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "bench.run", "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"
    report = json.loads(out.read_text())
    assert [s["name"] for s in report["scenarios"]] == list(SCENARIOS)
    for scenario in report["scenarios"]:
        assert scenario["error"] is None, scenario
        assert scenario["checks"], scenario["name"]
        for check in scenario["checks"]:
            assert check["ours"] and check["reference"], check
    pipeline = [s for s in report["scenarios"] if s["name"] in ("big-file", "small-files")]
    for scenario in pipeline:
        assert set(scenario["peak_rss_mb"]) == {"discovery", "downloader", "uploader",
                                                "notifier", "admin"}
    for line in ("scenario", *SCENARIOS):
        assert line in run.stdout
    print(run.stdout)
    print(f"smoke run took {elapsed:.0f}s")
