"""Target 4: a far-away partner, 1 downloader with prefetch 1 against 4 replicas and
against prefetch 4.

Every SFTP connection (ours and rclone's) goes through tests/faults/proxy.FaultProxy with
``latency`` set: the proxy reads up to 64 KiB from one side, sleeps, then forwards it, in
each direction separately. That is a link with ``latency`` one way (>= 2 x latency per
request/response round trip) whose throughput per connection and direction is capped at
64 KiB per ``latency`` (3.3 MB/s at 20 ms), like a long fat pipe with a small window:
what a transfer from a partner on another continent feels like.

Each configuration copies the same files under a server registration of its own; the
number is the journal's first ``discovered`` -> last ``notified``.
"""

from bench.context import Bench, sync_disks
from bench.journal import Journal, disable, register
from bench.pipeline import DownloaderSet
from bench.results import Check, ScenarioResult, at_least, seconds
from tests.faults.proxy import FaultProxy
from tests.harness import make_inbox, write_random

BASELINE = DownloaderSet(replicas=1, prefetch=1)
# The partner's session cap (servers.max_connections) above what the contenders ask for:
# four downloads and discovery's scan every second. What is measured is the parallelism
# over a far link; at the cap, sessions are handed over (tests/faults/test_session_cap.py).
SESSIONS_ALLOWED = 8
CONTENDERS = (DownloaderSet(replicas=4, prefetch=1), DownloaderSet(replicas=1, prefetch=4))


def run(bench: Bench) -> ScenarioResult:
    servers, sizes = bench.servers, bench.sizes
    pipeline = bench.pipeline()
    remote, local = make_inbox(servers.sftp, f"far-{servers.run_id}")
    for i in range(sizes.far_files):
        write_random(local / f"far-{i:04d}.bin", sizes.far_file_bytes)
    result = ScenarioResult("far-servers")
    timeout = 120 + sizes.far_files * sizes.far_file_bytes / 200_000
    times: dict[DownloaderSet, float] = {}
    peaks: dict[str, float] = {}
    with FaultProxy(servers.sftp.host, servers.sftp.port) as proxy:
        proxy.latency = sizes.far_latency_s
        servers.known_host(proxy.port)
        for config in (BASELINE, *CONTENDERS):
            pipeline.use(config)
            sync_disks()
            pipeline.reset_peaks()
            name = f"far-{servers.run_id}-{config.replicas}x{config.prefetch}"
            server_id = register(servers, pipeline.admin_url, name=name, remote_dir=remote,
                                 port=proxy.port, max_connections=SESSIONS_ALLOWED)
            with Journal(servers.database_url) as journal:
                journal.wait_notified(server_id, sizes.far_files, timeout=timeout)
                times[config] = journal.span(server_id).discovered_to_notified
            for service, mb in pipeline.peak_rss_mb().items():
                peaks[service] = max(peaks.get(service, 0.0), mb)
            disable(servers, pipeline.admin_url, server_id)
        pipeline.use(DownloaderSet())
        sync_disks()
        rclone = bench.rclone.copy(remote, f"far-{servers.run_id}", sftp_port=proxy.port)

    result.peak_rss_mb = peaks
    base = times[BASELINE]
    for config in CONTENDERS:
        speedup = base / times[config]
        result.checks.append(Check(
            f"{config.describe()} vs {BASELINE.describe()}", seconds(times[config]),
            seconds(base), speedup, ">= 2.0 faster", at_least(speedup, 2.0)))
    megabytes = sizes.far_files * sizes.far_file_bytes / 1e6
    result.notes = [
        f"{sizes.far_files} x {sizes.far_file_bytes // 1024} KiB, {sizes.far_latency_s * 1000:.0f}"
        f" ms per chunk and direction; rclone copy (4 transfers) over the same proxy: "
        f"{seconds(rclone.seconds)}",
        "MB/s: " + ", ".join(f"{c.describe()}: {megabytes / t:.1f}" for c, t in times.items()),
    ]
    return result
