"""Workers killed with SIGKILL in the middle of their work: the file still arrives once."""

import signal
from pathlib import Path

import pytest
from minio import Minio

from infra.spool.paths import Spool
from tests.faults.proxy import FaultProxy
from tests.harness import (
    Journal,
    drain_notifications,
    make_inbox,
    register_server,
    sha256_of_object,
    write_random,
)
from tests.processes import wait_for

pytestmark = pytest.mark.faults


@pytest.fixture
def s3_proxy(s3):
    host, port = s3.endpoint.split(":")
    with FaultProxy(host, int(port)) as proxy:
        yield proxy


def _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url):
    assert row["sha256"] == digest
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    assert sha256_of_object(client, row["bucket"], row["object_key"]) == digest
    objects = list(client.list_objects(row["bucket"], prefix=row["object_key"].rsplit("/", 1)[0],
                                       recursive=True))
    assert len(objects) == 1
    names = [event for event, _ in journal.events(row["id"])]
    assert names.count("notified") == 1
    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    assert [mid for mid, _ in notices].count(str(row["id"])) == 1
    return names


def test_downloader_killed_mid_download(start_pipeline, sftp_server, sftp_proxy, database_url,
                                        admin_token, name, s3, settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", 16 * 1024 * 1024)
    sftp_proxy.latency = 0.005
    pipeline = start_pipeline()
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             port=sftp_proxy.port, token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        [row] = journal.wait_until_all(1, "downloading", timeout=60)
        part = Spool(Path(pipeline.env["INTAKE_SPOOL_DIR"])).partial(row["id"])
        wait_for(lambda: part.exists() and part.stat().st_size > 1024 * 1024, timeout=60,
                 what="a partial download")
        pipeline["downloader"].kill()
        sftp_proxy.latency = 0
        pipeline.replace("downloader")

        [row] = journal.wait_until_all(1, timeout=120)

        names = _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
        assert names.count("download_started") == 2
        downloaded = next(d for e, d in journal.events(row["id"]) if e == "downloaded")
        assert downloaded["resumed_from"] > 0
    finally:
        journal.close()


def test_uploader_killed_mid_upload(start_pipeline, sftp_server, s3_proxy, database_url,
                                    admin_token, name, s3, settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", 40 * 1024 * 1024)
    s3_proxy.latency = 0.005
    pipeline = start_pipeline(INTAKE_S3_ENDPOINT=f"127.0.0.1:{s3_proxy.port}")
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        journal.wait_until_all(1, "storing", timeout=60)
        wait_for(lambda: s3_proxy.bytes_up > 4 * 1024 * 1024, timeout=60,
                 what="an upload under way")
        pipeline["uploader"].kill()
        s3_proxy.latency = 0
        pipeline.replace("uploader")

        [row] = journal.wait_until_all(1, timeout=120)

        names = _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
        assert names.count("upload_started") == 2
    finally:
        journal.close()


def test_notifier_killed_between_store_and_notify(start_pipeline, sftp_server, database_url,
                                                  admin_token, name, s3, settings_env,
                                                  amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "a.csv", 4096)
    pipeline = start_pipeline()
    notifier = pipeline["notifier"]
    notifier.process.send_signal(signal.SIGSTOP)  # it may take the message, but not act on it
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        journal.wait_until_all(1, "stored", timeout=60)
        notifier.kill()
        pipeline.replace("notifier")

        [row] = journal.wait_until_all(1, timeout=60)

        _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
    finally:
        journal.close()


def test_discovery_killed_mid_scan(start_pipeline, sftp_server, database_url, admin_token,
                                   name):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"d{i:03d}.txt": write_random(local / f"d{i:03d}.txt", 100) for i in range(400)}
    # Small batches so the kill lands between two of them.
    pipeline = start_pipeline(INTAKE_SCAN_BATCH_SIZE="20")
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token, min_file_age_s=0)
    journal = Journal(database_url, server["id"])
    try:
        wait_for(lambda: 0 < len(journal.files()) < 400, timeout=60, interval=0.01,
                 what="a scan half done")
        pipeline["discovery"].kill()
        pipeline.replace("discovery")

        rows = journal.wait_until_all(400, timeout=180)
    finally:
        journal.close()
    assert {r["filename"]: r["sha256"] for r in rows} == digests


def test_an_upload_longer_than_its_lease_keeps_its_claim(start_pipeline, sftp_server, s3_proxy,
                                                         database_url, admin_token, name, s3,
                                                         settings_env, amqp_url):
    """The uploader renews its lease while a slow upload runs, so the reconciler (every
    second here) never hands the file to a second upload."""
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", 40 * 1024 * 1024)
    s3_proxy.latency = 0.08  # ~17 s for this upload; the lease is 10 s (FAST_RECOVERY)
    pipeline = start_pipeline(INTAKE_S3_ENDPOINT=f"127.0.0.1:{s3_proxy.port}")
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        [row] = journal.wait_until_all(1, timeout=180)
        names = _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
        [stored] = [details for event, details in journal.events(row["id"]) if event == "stored"]
        assert stored["seconds"] > 12, "the upload did not outlast the lease"
        assert names.count("upload_started") == 1
    finally:
        journal.close()
