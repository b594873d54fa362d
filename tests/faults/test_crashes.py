"""Workers killed with SIGKILL in the middle of their work: the file still arrives once."""

import signal
from pathlib import Path

import pytest

from infra.spool.paths import Spool
from tests.faults.proxy import FaultProxy
from tests.harness import Journal, assert_delivered_once, make_inbox, write_random
from tests.processes import Pipeline, wait_for

pytestmark = pytest.mark.faults


@pytest.fixture
def s3_proxy(s3):
    host, port = s3.endpoint.split(":")
    with FaultProxy(host, int(port)) as proxy:
        yield proxy


@pytest.fixture
def big_file(sftp_server, name):
    """``big_file(size)``: a random file of that size in the test's inbox; returns the
    inbox's remote path and the file's sha256."""
    def make(size: int) -> tuple[str, str]:
        remote, local = make_inbox(sftp_server, name)
        return remote, write_random(local / "big.bin", size)
    return make


def _kill_and_replace(pipeline: Pipeline, service: str, proxy: FaultProxy,
                      journal: Journal) -> dict:
    """SIGKILL the service mid-file, take the slowness off the link and start a new one;
    returns the file's row once it is notified."""
    pipeline[service].kill()
    proxy.latency = 0
    pipeline.replace(service)
    [row] = journal.wait_until_all(1, timeout=120)
    return row


def test_downloader_killed_mid_download(start_pipeline, big_file, sftp_proxy, watch, s3,
                                        settings_env, amqp_url):
    remote, digest = big_file(16 * 1024 * 1024)
    sftp_proxy.latency = 0.005
    pipeline = start_pipeline()
    journal = watch(pipeline, remote, port=sftp_proxy.port)
    [row] = journal.wait_until_all(1, "downloading", timeout=60)
    part = Spool(Path(pipeline.env["INTAKE_SPOOL_DIR"])).partial(row["id"])
    wait_for(lambda: part.exists() and part.stat().st_size > 1024 * 1024, timeout=60,
             what="a partial download")

    row = _kill_and_replace(pipeline, "downloader", sftp_proxy, journal)

    names = assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
    assert names.count("download_started") == 2
    downloaded = next(d for e, d in journal.events(row["id"]) if e == "downloaded")
    assert downloaded["resumed_from"] > 0


def test_uploader_killed_mid_upload(start_pipeline, big_file, s3_proxy, watch, s3,
                                    settings_env, amqp_url):
    remote, digest = big_file(40 * 1024 * 1024)
    s3_proxy.latency = 0.005
    pipeline = start_pipeline(INTAKE_S3_ENDPOINT=f"127.0.0.1:{s3_proxy.port}")
    journal = watch(pipeline, remote)
    journal.wait_until_all(1, "storing", timeout=60)
    wait_for(lambda: s3_proxy.bytes_up > 4 * 1024 * 1024, timeout=60,
             what="an upload under way")

    row = _kill_and_replace(pipeline, "uploader", s3_proxy, journal)

    names = assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
    assert names.count("upload_started") == 2


def test_notifier_killed_between_store_and_notify(start_pipeline, sftp_server, watch, name,
                                                  s3, settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "a.csv", 4096)
    pipeline = start_pipeline()
    notifier = pipeline["notifier"]
    notifier.process.send_signal(signal.SIGSTOP)  # it may take the message, but not act on it
    journal = watch(pipeline, remote)
    journal.wait_until_all(1, "stored", timeout=60)
    notifier.kill()
    pipeline.replace("notifier")

    [row] = journal.wait_until_all(1, timeout=60)

    assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)


def test_discovery_killed_mid_scan(start_pipeline, sftp_server, watch, name):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"d{i:03d}.txt": write_random(local / f"d{i:03d}.txt", 100) for i in range(400)}
    # Small batches so the kill lands between two of them.
    pipeline = start_pipeline(INTAKE_SCAN_BATCH_SIZE="20")
    journal = watch(pipeline, remote, min_file_age_s=0)
    wait_for(lambda: 0 < len(journal.files()) < 400, timeout=60, interval=0.01,
             what="a scan half done")
    pipeline["discovery"].kill()
    pipeline.replace("discovery")

    rows = journal.wait_until_all(400, timeout=180)

    assert {r["filename"]: r["sha256"] for r in rows} == digests

