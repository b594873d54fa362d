"""Run Intake's benchmarks side by side with rclone and OpenSSH, and print one table.

    .venv/bin/python -m bench.run                      # every scenario, full sizes
    .venv/bin/python -m bench.run big-file --size-mb 10240
    .venv/bin/python -m bench.run --smoke              # tiny sizes, under a minute

Starts its own servers (a fresh database, queue prefix, bucket, SeaweedFS, sshd account;
see tests/servers.py), so it needs what ./test.sh needs: root, PostgreSQL and RabbitMQ.
Exit status: 0 all targets met, 1 a target missed, 2 a scenario failed to run. With
--smoke only 2 counts: tiny sizes say nothing about the targets.
"""

import argparse
import sys
import traceback
from pathlib import Path

from bench.context import Bench, Sizes
from bench.environment import bench_servers
from bench.measure import machine
from bench.results import ScenarioResult, render, save
from bench.scenarios import SCENARIOS


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.startswith("INTAKE_"):
        raise argparse.ArgumentTypeError("expected INTAKE_NAME=VALUE")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness")
    parser.add_argument("--size-mb", type=int, dest="big_file_mb",
                        help="big-file size in MiB (default 1024)")
    parser.add_argument("--small-files", type=int, help="small-files count (default 2000)")
    parser.add_argument("--far-files", type=int, help="far-servers file count (default 200)")
    parser.add_argument("--dir-entries", type=int,
                        help="big-directory size (default 100000)")
    parser.add_argument("--db-rows", type=int, nargs=2, metavar=("SMALL", "LARGE"),
                        help="db-scale table sizes (default 10000 1000000)")
    parser.add_argument("--csv-rows", type=int,
                        help="csv-sum file's rows (default 3000000; its 4 scaling jobs read"
                             " at most 1000000)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--set", action="append", default=[], metavar="INTAKE_X=VALUE",
                        dest="settings", type=_setting,
                        help="extra setting for every service (repeatable), to try a change")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy every service while big-file and small-files run")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (service logs, rclone output)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sizes = (Sizes.smoke() if args.smoke else Sizes()).override(
        big_file_mb=args.big_file_mb, small_files=args.small_files, far_files=args.far_files,
        dir_entries=args.dir_entries,
        db_rows=tuple(args.db_rows) if args.db_rows else None, csv_rows=args.csv_rows)
    names = args.scenarios or list(SCENARIOS)
    results: list[ScenarioResult] = []
    before = machine()
    with bench_servers(keep=args.keep, extra_env=dict(args.settings)) as servers:
        bench = Bench(servers, sizes, smoke=args.smoke, profile_dir=args.profile)
        try:
            for name in names:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                try:
                    results.append(SCENARIOS[name](bench))
                except Exception as exc:
                    traceback.print_exc()
                    results.append(ScenarioResult(name, error=f"{type(exc).__name__}: {exc}"))
        finally:
            bench.close()
    after = machine()
    print(render(results))
    print(f"machine: {after['cores']} cores, {after['mem_total_mb']} MB RAM; load average "
          f"before {before['loadavg']}, after {after['loadavg']} ({after['time_utc']} UTC)")
    if args.json:
        save(results, args.json, {"before": before, "after": after, "smoke": args.smoke})
    if any(r.error for r in results):
        return 2
    return 0 if args.smoke or all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
