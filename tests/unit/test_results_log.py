"""The shared results log: many writers at once, every line whole, none lost."""

import json
import multiprocessing
from pathlib import Path

from services.processor.results_log import append

WRITERS, LINES = 6, 150


def _write(path: str, writer: int) -> None:
    for line in range(LINES):
        # Long lines: without the lock, concurrent appends of this size can interleave.
        append(Path(path), {"writer": writer, "line": line, "padding": "x" * 20_000})


def test_concurrent_writers_append_whole_lines_and_lose_none(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "results.log"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write, args=(str(path), w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0

    entries = [json.loads(line) for line in path.read_text().splitlines()]

    assert len(entries) == WRITERS * LINES
    assert {(e["writer"], e["line"]) for e in entries} == {
        (w, n) for w in range(WRITERS) for n in range(LINES)}
    assert all(len(e["padding"]) == 20_000 for e in entries)
    for writer in range(WRITERS):  # each writer's lines in the order it wrote them
        assert [e["line"] for e in entries if e["writer"] == writer] == list(range(LINES))
