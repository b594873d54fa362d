"""A worker SIGKILLed in the middle of a batch of small files: once the batch's claims lapse,
the reconciler re-drives each of its files on its own, and every one is stored and
announced exactly once."""

from collections import Counter

import pytest
from minio import Minio

from tests.faults.proxy import FaultProxy
from tests.harness import drain_notifications, make_inbox, sha256_of_object, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults

FILES = 30


@pytest.fixture
def s3_proxy(s3):
    host, port = s3.endpoint.split(":")
    with FaultProxy(host, int(port)) as proxy:
        yield proxy


@pytest.mark.parametrize(("service", "claimed"), [("downloader", "downloading"),
                                                  ("uploader", "storing")])
def test_a_batch_whose_worker_is_killed_midway_arrives_once(
        service, claimed, start_pipeline, sftp_server, sftp_proxy, s3_proxy, watch, name, s3,
        settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"inv-{i:03d}.edi": write_random(local / f"inv-{i:03d}.edi", 2000 + i)
               for i in range(FILES)}
    slow = sftp_proxy if service == "downloader" else s3_proxy
    slow.latency = 0.2  # the batch's work takes seconds: time to kill it midway
    pipeline = start_pipeline(INTAKE_S3_ENDPOINT=f"127.0.0.1:{s3_proxy.port}")
    journal = watch(pipeline, remote, port=sftp_proxy.port, min_file_age_s=0)
    journal.wait_until_all(FILES, claimed, timeout=60)
    if service == "uploader":
        wait_for(lambda: s3_proxy.bytes_up > 0, timeout=30, what="the batch's PUTs under way")

    pipeline[service].kill()
    slow.latency = 0
    pipeline.replace(service)
    rows = journal.wait_until_all(FILES, timeout=120)

    assert {row["filename"]: row["sha256"] for row in rows} == digests
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)
    notices = Counter(mid for mid, _ in drain_notifications(
        amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"]))
    started = "download_started" if service == "downloader" else "upload_started"
    for row in rows:
        assert sha256_of_object(client, row["bucket"], row["object_key"]) == row["sha256"]
        names = [event for event, _ in journal.events(row["id"])]
        assert names.count(started) == 2, names  # the killed batch's claim, and the re-drive
        assert names.count("stored") == names.count("notified") == 1, names
        assert notices[str(row["id"])] == 1
