"""deploy/monitoring as the tests read it: the Grafana dashboard's queries, the alert
rules, and Prometheus' own binaries (Debian's prometheus package)."""

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "intake.json"
PROMETHEUS_DIR = MONITORING / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"

# Grafana's own variables, filled in as Grafana would for a scrape interval of a second.
GRAFANA_VARIABLES = {"$__rate_interval": "10s", "$__interval": "1s", "$__range": "5m"}


def panels(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, those inside (collapsed) rows included; not the rows."""
    for panel in container.get("panels", []):
        if panel["type"] == "row":
            yield from panels(panel)
        else:
            yield panel


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard, its variables filled in."""
    queries = []
    for panel in panels(json.loads(DASHBOARD.read_text())):
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert not re.search(r"\$\w", expr), f"{panel['title']}: a variable left in {expr}"
            queries.append((panel["title"], expr))
    return queries


def binary(name: str) -> str:
    """The path of ``name``; missing, the test is skipped, except in CI, where ./test.sh
    installs it and its absence is a failure."""
    found = shutil.which(name)
    if found is None:
        why = f"{name} is missing: scripts/install.sh --with-prometheus installs it (as root)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return found
