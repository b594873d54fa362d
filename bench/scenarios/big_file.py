"""Targets 1 and 2: one large file, end to end, against rclone and OpenSSH; memory.

The file is written to the SFTP account first (not timed) and the disks are synced before
each of the three copies, which all read it from the page cache:

* ours: register the server through the admin API, wait for ``notified``; the number is
  the journal's ``discovered`` -> ``notified`` (the file is stable from the first poll:
  min_file_age_s = 0), with the wall clock from registering alongside;
* rclone: ``rclone copy`` of the same directory into another bucket;
* OpenSSH: ``sftp user@host:path local``, against which the download stage alone (the
  ``downloaded`` event's ``seconds``) is compared.

Peak RSS is each service's VmHWM, reset just before the server is registered.
"""

import time

from bench.context import Bench, MiB, sync_disks
from bench.journal import Journal, disable, register
from bench.profiling import profiled
from bench.references import openssh_get
from bench.results import Check, ScenarioResult, at_least, at_most, seconds
from tests.harness import make_inbox, write_random

RSS_LIMIT_MB = 150.0


def run(bench: Bench) -> ScenarioResult:
    servers, size = bench.servers, bench.sizes.big_file_mb * MiB
    pipeline = bench.pipeline()
    name = f"big-{servers.run_id}"
    remote, local = make_inbox(servers.sftp, name)
    digest = write_random(local / "big.bin", size)
    result = ScenarioResult("big-file")
    try:
        # OpenSSH first: it only reads, and tells how fast this sshd can send at all.
        sync_disks()
        copy = bench.scratch(name) / "openssh.bin"
        openssh = openssh_get(servers, f"{remote}/big.bin", copy)
        copy.unlink()

        sync_disks()
        exact_peaks = pipeline.reset_peaks()
        started = time.monotonic()
        with profiled(pipeline, bench.profile_dir, "big-file"), \
                Journal(servers.database_url) as journal:
            server_id = register(servers, pipeline.admin_url, name=name, remote_dir=remote)
            finished = journal.wait_notified(server_id, 1, timeout=120 + size / MiB / 5)
            wall = finished - started
            result.peak_rss_mb = pipeline.peak_rss_mb()
            span = journal.span(server_id)
            [downloaded] = journal.stage_details(server_id, "downloaded")
            [stored] = journal.stage_details(server_id, "stored")
            if journal.sha256s(server_id) != {"big.bin": digest}:
                raise RuntimeError("the stored file's sha256 is not the one written")
        disable(servers, pipeline.admin_url, server_id)

        sync_disks()
        rclone = bench.rclone.copy(remote, name)
        bench.rclone.purge(name)  # a 10 GiB run needs the room back
    finally:
        (local / "big.bin").unlink(missing_ok=True)

    ours = span.discovered_to_notified
    mb = size / 1e6
    download_s = float(downloaded["seconds"])
    result.checks = [
        Check("discovered->notified vs rclone copy", seconds(ours), seconds(rclone.seconds),
              ours / rclone.seconds, "<= 1.0", at_most(ours / rclone.seconds, 1.0)),
        Check("download MB/s vs OpenSSH sftp", f"{mb / download_s:.0f} MB/s",
              f"{mb / openssh.seconds:.0f} MB/s", openssh.seconds / download_s, ">= 0.5",
              at_least(openssh.seconds / download_s, 0.5)),
        Check("max service peak RSS vs rclone's", f"{max(result.peak_rss_mb.values()):.0f} MB",
              f"{rclone.max_rss_mb:.0f} MB", None, f"<= {RSS_LIMIT_MB:.0f} MB",
              max(result.peak_rss_mb.values()) <= RSS_LIMIT_MB),
    ]
    result.notes = [
        f"{bench.sizes.big_file_mb} MiB; wall clock register->notified {seconds(wall)} "
        f"(includes the first poll); stages after discovery: {span.lag()}",
        f"download {download_s:.2f} s ({downloaded['mb_per_s']} MB/s), upload "
        f"{float(stored['seconds']):.2f} s ({stored['mb_per_s']} MB/s); OpenSSH sftp "
        f"{seconds(openssh.seconds)}, rclone {seconds(rclone.seconds)} "
        f"(peak RSS {rclone.max_rss_mb:.0f} MB)",
    ]
    if not exact_peaks:
        result.notes.append("peak RSS could not be reset: VmHWM since the service started")
    return result
