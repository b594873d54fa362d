"""Target 3: many small files end to end, against rclone, in files per second.

Ours: from the first ``discovered`` event to the last ``notified`` one (the journal's
clock), with every file's journal checked to hold the whole happy path. rclone: one
``rclone copy`` of the same directory, listing and connecting included.
"""

import os
import time

from bench.context import Bench, sync_disks
from bench.journal import Journal, disable, register
from bench.measure import machine_cpu_seconds
from bench.profiling import profiled
from bench.results import Check, ScenarioResult, at_least, seconds
from tests.harness import make_inbox


def run(bench: Bench) -> ScenarioResult:
    servers, count = bench.servers, bench.sizes.small_files
    pipeline = bench.pipeline()
    name = f"small-{servers.run_id}"
    remote, local = make_inbox(servers.sftp, name)
    for i in range(count):
        path = local / f"file-{i:06d}.dat"
        path.write_bytes(os.urandom(bench.sizes.small_file_bytes))
        path.chmod(0o644)
    result = ScenarioResult("small-files")

    sync_disks()
    pipeline.reset_peaks()
    cpu_before = pipeline.cpu_snapshot()
    machine_before = machine_cpu_seconds()
    started = time.monotonic()
    with profiled(pipeline, bench.profile_dir, "small-files"), \
            Journal(servers.database_url) as journal:
        server_id = register(servers, pipeline.admin_url, name=name, remote_dir=remote)
        finished = journal.wait_notified(server_id, count, timeout=120 + count / 5)
        wall = finished - started
        cpu_used = pipeline.cpu_snapshot().used_since(cpu_before)
        machine_after = machine_cpu_seconds()
        result.peak_rss_mb = pipeline.peak_rss_mb()
        span = journal.span(server_id)
        complete = journal.complete_journals(server_id)
        means = journal.stage_means(server_id)
    disable(servers, pipeline.admin_url, server_id)

    sync_disks()
    rclone = bench.rclone.copy(remote, name)

    ours_rate = count / span.discovered_to_notified
    rclone_rate = count / rclone.seconds
    ratio = ours_rate / rclone_rate
    result.checks = [
        Check(f"{count} files, files/s vs rclone copy", f"{ours_rate:.0f}/s",
              f"{rclone_rate:.0f}/s", ratio, ">= 0.5", at_least(ratio, 0.5)),
        Check("every file journaled (6 events)", "yes" if complete else "NO", "-", None,
              "all", complete),
    ]
    result.notes = [
        f"{count} x {bench.sizes.small_file_bytes} B: discovered->notified "
        f"{seconds(span.discovered_to_notified)}, register->all notified {seconds(wall)}, "
        f"rclone {seconds(rclone.seconds)}",
        f"last event of each stage after the first discovery: {span.lag()}",
        f"mean per file between events: {means}",
        "CPU per file: " + ", ".join(
            f"{name} {used / count * 1000:.1f} ms" for name, used in cpu_used.items())
        + f"; whole machine {(machine_after - machine_before) / count * 1000:.1f} ms "
          f"over {seconds(wall)}",
    ]
    return result
