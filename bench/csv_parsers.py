"""Which CSV reader the processor's column sums should use, measured.

    .venv/bin/python -m bench.csv_parsers [--rows 3000000]

Writes a CSV of N rows and 30 columns (bench/csv_data.py: ints, 2-decimal values and both
mixed, with a few odd rows) into a temp dir, then sums every 10th column with each reader,
each in its own process (for its peak RSS): Python's csv module with Decimal (the
reference), pyarrow's streaming reader (``services.processor.csv_sums``, the engine
itself, over a Python file object as the processor reads S3), polars ``scan_csv``
streaming and DuckDB ``read_csv``. A reader is correct when its sums, row count, empty,
non-numeric and short-row counts equal the reference's (and, where it reports them, the
first non-numeric cells). polars and DuckDB read a path, not a stream.
"""

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import MAX_PREC, Context, Decimal
from pathlib import Path

from bench.csv_data import COLUMNS, OFFSET, STEP, generate

ROOT = Path(__file__).resolve().parent.parent
SPACE = " \t\n\r\f\v"
NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"  # the engine's rule, written again here


def _summed(header: list[str]) -> list[int]:
    return list(range(OFFSET, len(header) + 1, STEP))


def python_csv(path: Path) -> dict:
    exact, number = Context(prec=MAX_PREC), re.compile(NUMBER)
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        summed = _summed(next(reader))
        columns = {c: {"sum": Decimal(0), "empty": 0, "non_numeric": 0, "first": []}
                   for c in summed}
        rows = short = 0
        for row in reader:
            if not row:
                continue
            rows += 1
            short += len(row) < summed[-1]
            for c in summed:
                if c > len(row):
                    continue
                column, text = columns[c], row[c - 1].strip(SPACE)
                if not text:
                    column["empty"] += 1
                elif number.fullmatch(text):
                    column["sum"] = exact.add(column["sum"], Decimal(text))
                else:
                    column["non_numeric"] += 1
                    if len(column["first"]) < 5:
                        column["first"].append([rows, row[c - 1]])
    for column in columns.values():
        column["sum"] = format(column["sum"], "f")
    return {"rows": rows, "short_rows": short, "columns": {str(c): v for c, v in columns.items()}}


def pyarrow_engine(path: Path) -> dict:
    from services.processor.csv_sums import SumOptions, sum_columns

    with path.open("rb") as stream:
        result = sum_columns(stream, SumOptions(step=STEP, offset=OFFSET))
    skipped = result["skipped"]
    columns = {c: {"sum": total,
                   "empty": skipped["empty"].get(c, 0),
                   "non_numeric": skipped["non_numeric"].get(c, {}).get("count", 0),
                   "first": [[e["row"], e["value"]]
                             for e in skipped["non_numeric"].get(c, {}).get("first", [])]}
               for c, total in result["columns"].items()}
    return {"rows": result["rows"], "short_rows": skipped["short_rows"], "columns": columns}


def polars_scan(path: Path) -> dict:
    import polars as pl

    frame = pl.scan_csv(path, infer_schema=False, empty_string_is_null=False,
                        truncate_ragged_lines=True)
    names = frame.collect_schema().names()
    summed = _summed(names)
    exprs = [pl.len().alias("rows")]
    for c in summed:
        text = pl.col(names[c - 1]).str.strip_chars(SPACE)
        numeric = text.str.contains(f"^{NUMBER}$")
        exprs += [text.filter(numeric).cast(pl.Decimal(38, 10), strict=False).sum()
                  .alias(f"sum{c}"),
                  (text == "").sum().alias(f"empty{c}"),
                  (~numeric & (text != "")).sum().alias(f"bad{c}")]
    got = frame.select(exprs).collect(engine="streaming").row(0, named=True)
    columns = {str(c): {"sum": str(got[f"sum{c}"]), "empty": got[f"empty{c}"],
                        "non_numeric": got[f"bad{c}"]} for c in summed}
    # a short row's missing cells read as "": no way to tell them from empty cells
    return {"rows": got["rows"], "short_rows": None, "columns": columns}


def duckdb_read(path: Path) -> dict:
    import duckdb

    connection = duckdb.connect()
    source = (f"read_csv('{path}', all_varchar=true, header=true, null_padding=true,"
              " strict_mode=false, parallel=false, nullstr=chr(1))")  # '' stays ''
    # parallel=false: the parallel scanner refuses null_padding with quoted newlines
    query = f"DESCRIBE SELECT * FROM {source}"  # noqa: S608 - our own path and names
    names = [row[0] for row in connection.sql(query).fetchall()]
    summed = _summed(names[:COLUMNS])  # strict_mode=false adds columns for the long row
    trims = ", ".join(f"trim(\"{names[c - 1]}\", '{SPACE}') AS t{c}" for c in summed)
    parts = ["count(*)", f"count(*) FILTER (WHERE t{summed[-1]} IS NULL)"]
    for c in summed:
        match = f"regexp_full_match(t{c}, '{NUMBER}')"
        parts += [f"sum(TRY_CAST(t{c} AS DECIMAL(38, 10))) FILTER (WHERE {match})",
                  f"count(*) FILTER (WHERE t{c} = '')",
                  f"count(*) FILTER (WHERE t{c} <> '' AND NOT {match})"]
    query = f"SELECT {', '.join(parts)} FROM (SELECT {trims} FROM {source})"  # noqa: S608
    got = connection.sql(query).fetchall()[0]
    columns = {str(c): {"sum": str(got[2 + 3 * i] or 0), "empty": got[3 + 3 * i],
                        "non_numeric": got[4 + 3 * i]} for i, c in enumerate(summed)}
    return {"rows": got[0], "short_rows": got[1], "columns": columns}


CANDIDATES: dict[str, Callable[[Path], dict]] = {
    "python csv + Decimal (reference)": python_csv,
    "pyarrow open_csv stream (engine)": pyarrow_engine,
    "polars scan_csv streaming": polars_scan,
    "duckdb read_csv all_varchar": duckdb_read,
}


def _child(name: str, path: Path) -> None:
    started = time.perf_counter()
    result = CANDIDATES[name](path)
    seconds = time.perf_counter() - started
    # not getrusage: its ru_maxrss keeps the parent's peak across fork and exec
    status = Path("/proc/self/status").read_text()
    rss_mb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "result": result}))


def _correct(got: dict, reference: dict) -> str:
    wrong = [field for field in ("rows", "short_rows") if got[field] != reference[field]]
    for c, want in reference["columns"].items():
        have = got["columns"].get(c)
        if have is None or Decimal(have["sum"]) != Decimal(want["sum"]):
            wrong.append(f"sum {c}")
            continue
        wrong += [f"{field} {c}" for field in ("empty", "non_numeric", "first")
                  if field in have and have[field] != want[field]]
    return "yes" if not wrong else "no: " + ", ".join(wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--candidate", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.candidate:
        _child(args.candidate, args.file)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sums.csv"
        started = time.perf_counter()
        generate(path, args.rows)
        print(f"{args.rows:,} rows, {COLUMNS} columns, {path.stat().st_size / 1e6:.1f} MB"
              f" (written in {time.perf_counter() - started:.1f} s); summing every {STEP}th")
        print(f"{'reader':36} {'seconds':>8} {'peak RSS MB':>12}  correct")
        reference = None
        for name in CANDIDATES:
            run = subprocess.run(  # noqa: S603 - our own module
                [sys.executable, "-m", "bench.csv_parsers", "--candidate", name,
                 "--file", str(path)],
                cwd=ROOT, capture_output=True, text=True, check=False)
            if run.returncode:
                print(f"{name:36} failed: {run.stderr.strip().splitlines()[-1]}")
                continue
            report = json.loads(run.stdout.splitlines()[-1])
            reference = reference or report["result"]
            print(f"{name:36} {report['seconds']:8.1f} {report['rss_mb']:12.0f}  "
                  f"{_correct(report['result'], reference)}")


if __name__ == "__main__":
    main()
