"""The csv-sum scenario's reference: polars' streaming engine sums every 10th column.

    python -m bench.polars_sums PATH_OR_S3_URL   # s3://bucket/key: the INTAKE_S3_* server

In a process of its own, for its own peak RSS and threads (polars uses every core). The
summed columns are read as strings and cast leniently (``strict=False``) to an exact
decimal, so that odd cells become nulls, which ``sum`` skips, rather than errors. Prints
one JSON line: seconds from the scan to the result, peak RSS (VmHWM), rows and sums.
"""

import json
import os
import sys
import time

import polars as pl

from bench.csv_data import OFFSET, STEP
from bench.measure import vm_hwm_mb

EXACT = pl.Decimal(38, 2)  # the generated file's cells have at most two decimals


def storage_options() -> dict[str, str]:
    """The bench's S3 server (plain HTTP, path-style), from the settings the services read;
    the keys are object_store's, which polars reads objects with."""
    env = os.environ
    return {"aws_endpoint_url": f"http://{env['INTAKE_S3_ENDPOINT']}",
            "aws_access_key_id": env["INTAKE_S3_ACCESS_KEY"],
            "aws_secret_access_key": env["INTAKE_S3_SECRET_KEY"],
            "aws_region": "us-east-1", "aws_allow_http": "true"}


def column_sums(source: str, options: dict[str, str] | None) -> dict[str, object]:
    frame = pl.scan_csv(source, infer_schema=False, truncate_ragged_lines=True,
                        storage_options=options)
    names = frame.collect_schema().names()
    summed = {str(n): names[n - 1] for n in range(OFFSET, len(names) + 1, STEP)}
    exprs = [pl.len().alias("rows"), *(
        pl.col(name).str.strip_chars().cast(EXACT, strict=False).sum().alias(number)
        for number, name in summed.items())]
    got = frame.select(exprs).collect(engine="streaming").row(0, named=True)
    return {"rows": got.pop("rows"), "sums": {k: str(v) for k, v in got.items()}}


def main() -> None:
    source = sys.argv[1]
    started = time.perf_counter()
    result = column_sums(source, storage_options() if source.startswith("s3://") else None)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_mb": vm_hwm_mb(os.getpid()), **result}))


if __name__ == "__main__":
    main()
