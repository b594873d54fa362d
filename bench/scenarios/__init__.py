"""One module per scenario of issue 4, and csv-sum of issue 17; each exposes
``run(bench) -> ScenarioResult``."""

from collections.abc import Callable

from bench.context import Bench
from bench.results import ScenarioResult
from bench.scenarios import (
    big_directory,
    big_file,
    csv_sum,
    db_scale,
    far_servers,
    small_files,
)

Scenario = Callable[[Bench], ScenarioResult]

SCENARIOS: dict[str, Scenario] = {
    "big-file": big_file.run,
    "small-files": small_files.run,
    "far-servers": far_servers.run,
    "big-directory": big_directory.run,
    "db-scale": db_scale.run,
    "csv-sum": csv_sum.run,
}
