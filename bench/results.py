"""What a scenario reports, and the table the run prints."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Check:
    """One measured target: our number, the reference's, their ratio, and the verdict."""

    label: str
    ours: str
    reference: str
    ratio: float | None
    target: str
    passed: bool | None  # None: reported only, no target


@dataclass
class ScenarioResult:
    name: str
    checks: list[Check] = field(default_factory=list)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed is not False for c in self.checks)


def at_most(ratio: float, limit: float) -> bool:
    return ratio <= limit


def at_least(ratio: float, limit: float) -> bool:
    return ratio >= limit


def seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _verdict(check: Check) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[check.passed]


def _rss(peaks: dict[str, float]) -> str:
    return " ".join(f"{name}={mb:.0f}" for name, mb in peaks.items()) or "-"


HEADER = ("scenario", "check", "ours", "reference", "ratio", "target", "result",
          "peak RSS MB")


def rows(results: list[ScenarioResult]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = []
    for result in results:
        if result.error:
            table.append((result.name, "ERROR", result.error.splitlines()[0][:60], "", "", "",
                          "ERROR", ""))
            continue
        for index, check in enumerate(result.checks):
            ratio = f"{check.ratio:.2f}" if check.ratio is not None else "-"
            rss = _rss(result.peak_rss_mb) if index == 0 else ""
            table.append((result.name if index == 0 else "", check.label, check.ours,
                          check.reference, ratio, check.target, _verdict(check), rss))
    return table


def render(results: list[ScenarioResult]) -> str:
    table = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER) - 1)]
    lines = []
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    for result in results:
        for note in result.notes:
            lines.append(f"  {result.name}: {note}")
    return "\n".join(lines)


def save(results: list[ScenarioResult], path: Path, machine: dict[str, object]) -> None:
    payload = {"machine": machine, "scenarios": [asdict(r) for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n")
