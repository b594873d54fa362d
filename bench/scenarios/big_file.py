"""Targets 1 and 2: one large file, end to end, against rclone and OpenSSH; memory.

The file is written to the SFTP account first (not timed) and the disks are synced before
each copy, which all read it from the page cache:

* OpenSSH: ``sftp user@host:path local``: how fast this sshd sends one stream at all;
* ours, upload after download (the downloader does not announce the file, so no part is
  sent before the download is recorded): the download stage alone, the ``downloaded``
  event's ``seconds``, is compared with OpenSSH;
* ours as configured (parts uploaded while the file downloads): register the server
  through the admin API, wait for ``notified``; the number is the journal's ``discovered``
  -> ``notified`` (the file is stable from the first poll: min_file_age_s = 0), with the
  wall clock from registering alongside;
* rclone: ``rclone copy`` of the same directory into another bucket.

Peak RSS is each service's VmHWM, reset before each of our runs; CPU is each service's
and the whole machine's (sshd, SeaweedFS, PostgreSQL and RabbitMQ included) per GiB.
"""

import time
from dataclasses import dataclass
from typing import Any

from bench.context import Bench, MiB, sync_disks
from bench.journal import Journal, disable, register
from bench.measure import CpuSnapshot, machine_cpu_seconds
from bench.pipeline import BenchPipeline, DownloaderSet
from bench.profiling import profiled
from bench.references import openssh_get
from bench.results import Check, ScenarioResult, at_least, at_most, seconds
from tests.harness import make_inbox, write_random

RSS_LIMIT_MB = 150.0
SEQUENTIAL = DownloaderSet(streaming=False)
STREAMED = DownloaderSet()


@dataclass
class Run:
    seconds: float  # discovered -> notified
    wall: float  # register -> notified
    lag: str
    downloaded: dict[str, Any]
    stored: dict[str, Any]
    peak_rss_mb: dict[str, float]
    cpu: dict[str, float]
    machine_cpu: float

    def cpu_per_gib(self, size: int) -> str:
        per_gib = {name: used * 1024 * MiB / size for name, used in self.cpu.items()}
        return (", ".join(f"{name} {used:.1f}" for name, used in per_gib.items())
                + f"; whole machine {self.machine_cpu * 1024 * MiB / size:.1f} core-s/GiB")


def _run_pipeline(bench: Bench, pipeline: BenchPipeline, config: DownloaderSet, *, name: str,
                  remote: str, size: int, digest: str) -> Run:
    pipeline.use(config)
    sync_disks()
    exact_peaks = pipeline.reset_peaks()
    cpu_before, machine_before = pipeline.cpu_snapshot(), machine_cpu_seconds()
    started = time.monotonic()
    with profiled(pipeline, bench.profile_dir, f"big-file-{name}"), \
            Journal(bench.servers.database_url) as journal:
        server_id = register(bench.servers, pipeline.admin_url, name=name, remote_dir=remote)
        finished = journal.wait_notified(server_id, 1, timeout=120 + size / MiB / 5)
        cpu_used = pipeline.cpu_snapshot().used_since(cpu_before)
        machine_after = machine_cpu_seconds()
        peaks = pipeline.peak_rss_mb()
        span = journal.span(server_id)
        [downloaded] = journal.stage_details(server_id, "downloaded")
        [stored] = journal.stage_details(server_id, "stored")
        if journal.sha256s(server_id) != {"big.bin": digest}:
            raise RuntimeError("the stored file's sha256 is not the one written")
    disable(bench.servers, pipeline.admin_url, server_id)
    if not exact_peaks:
        raise RuntimeError("peak RSS could not be reset (VmHWM): run as the services' owner")
    return Run(span.discovered_to_notified, finished - started, span.lag(), downloaded, stored,
               peaks, cpu_used,
               machine_after - machine_before)


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
        runs = {config: _run_pipeline(bench, pipeline, config, name=f"{name}-{i}",
                                      remote=remote, size=size, digest=digest)
                for i, config in enumerate((SEQUENTIAL, STREAMED))}
        pipeline.use(DownloaderSet())
        sync_disks()
        machine_before, servers_before = machine_cpu_seconds(), CpuSnapshot.take({})
        rclone = bench.rclone.copy(remote, name)
        rclone_machine = machine_cpu_seconds() - machine_before
        rclone_servers = CpuSnapshot.take({}).used_since(servers_before)
        bench.rclone.purge(name)  # a 10 GiB run needs the room back
    finally:
        (local / "big.bin").unlink(missing_ok=True)

    ours, alone = runs[STREAMED], runs[SEQUENTIAL]
    mb = size / 1e6
    download_s = float(alone.downloaded["seconds"])
    for config_run in runs.values():
        for service, peak in config_run.peak_rss_mb.items():
            result.peak_rss_mb[service] = max(result.peak_rss_mb.get(service, 0.0), peak)
    peak = max(result.peak_rss_mb.values())
    result.checks = [
        Check("discovered->notified vs rclone copy", seconds(ours.seconds),
              seconds(rclone.seconds), ours.seconds / rclone.seconds, "<= 1.0",
              at_most(ours.seconds / rclone.seconds, 1.0)),
        Check("download stage alone, MB/s vs OpenSSH sftp", f"{mb / download_s:.0f} MB/s",
              f"{mb / openssh.seconds:.0f} MB/s", openssh.seconds / download_s, ">= 0.5",
              at_least(openssh.seconds / download_s, 0.5)),
        Check("max service peak RSS vs rclone's", f"{peak:.0f} MB",
              f"{rclone.max_rss_mb:.0f} MB", None, f"<= {RSS_LIMIT_MB:.0f} MB",
              peak <= RSS_LIMIT_MB),
    ]
    result.notes = [
        f"{bench.sizes.big_file_mb} MiB, parts uploaded while downloading: wall clock "
        f"register->notified {seconds(ours.wall)} (includes the first poll); stages after "
        f"discovery: {ours.lag}; the streamer sent {ours.stored['parts_already_stored']} "
        f"parts, the upload stage the rest",
        f"  download {float(ours.downloaded['seconds']):.2f} s "
        f"({ours.downloaded['mb_per_s']} MB/s), upload stage after it "
        f"{float(ours.stored['seconds']):.2f} s; CPU {ours.cpu_per_gib(size)}",
        f"upload after download: discovered->notified {seconds(alone.seconds)}; download "
        f"{download_s:.2f} s ({alone.downloaded['mb_per_s']} MB/s), upload "
        f"{float(alone.stored['seconds']):.2f} s ({alone.stored['mb_per_s']} MB/s); "
        f"CPU {alone.cpu_per_gib(size)}",
        f"OpenSSH sftp {seconds(openssh.seconds)}; rclone {seconds(rclone.seconds)} "
        f"(peak RSS {rclone.max_rss_mb:.0f} MB; CPU rclone "
        f"{rclone.cpu_seconds * 1024 * MiB / size:.1f}, "
        + "".join(f"{n} {used * 1024 * MiB / size:.1f}, " for n, used in rclone_servers.items())
        + f"whole machine {rclone_machine * 1024 * MiB / size:.1f} core-s/GiB)",
    ]
    return result
