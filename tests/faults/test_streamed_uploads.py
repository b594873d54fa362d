"""Large files uploaded while they download, through the real services: the parts reach the
bucket before the download is recorded, and an uploader killed mid-stream loses nothing."""

import hashlib
import urllib.request

import psycopg
import pytest
from minio import Minio
from psycopg.rows import dict_row

from infra.multipart import MultipartSteps
from tests.faults.test_crashes import _assert_delivered_once
from tests.harness import Journal, make_inbox, register_server, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults

MiB = 1024 * 1024
SIZE = 40 * MiB  # five 8 MiB parts
STREAMED = {"INTAKE_STREAM_UPLOAD_MIN_BYTES": str(16 * MiB)}


def _upload_record(database_url: str, file_id) -> dict | None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM multipart_uploads WHERE file_id = %s",
                            (file_id,)).fetchone()


def _stored(journal: Journal, file_id) -> dict:
    [stored] = [details for event, details in journal.events(file_id) if event == "stored"]
    return stored


def test_a_large_file_is_uploaded_while_it_downloads(start_pipeline, sftp_server, sftp_proxy,
                                                     database_url, admin_token, name, s3,
                                                     settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", SIZE)
    sftp_proxy.latency = 0.002  # a download of a few seconds
    pipeline = start_pipeline(**STREAMED)
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             port=sftp_proxy.port, token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        [row] = journal.wait_until_all(1, timeout=120)
        _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
        # The streamer sent every part; the upload stage only completed the upload.
        stored = _stored(journal, row["id"])
        assert stored["parts_already_stored"] == 5
        assert stored["bytes_sent"] == 0 and stored["mb_per_s"] is None  # no rate made up
        client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                       secure=False)
        md5 = hashlib.md5((local / "big.bin").read_bytes()).hexdigest()
        assert client.get_object_tags(row["bucket"], row["object_key"]) == {
            "sha256": digest, "md5": md5}
        assert _upload_record(database_url, row["id"]) is None
        with urllib.request.urlopen(f"{pipeline['uploader'].url}/metrics") as response:
            metrics = response.read().decode()
        assert 'intake_file_transitions_total{event="streamed"} 1.0' in metrics
    finally:
        journal.close()


def test_uploader_killed_while_streaming(start_pipeline, sftp_server, sftp_proxy, database_url,
                                         admin_token, name, s3, settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", SIZE)
    sftp_proxy.latency = 0.005
    pipeline = start_pipeline(**STREAMED)
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             port=sftp_proxy.port, token=admin_token)
    journal = Journal(database_url, server["id"])
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)

    def a_part_stored() -> bool:
        record = _upload_record(database_url, row["id"])
        if record is None or record["upload_id"] is None:
            return False
        listed = MultipartSteps(client, settings_env["INTAKE_S3_BUCKET"]).list_parts(
            record["object_key"], record["upload_id"])
        return len(listed.parts) >= 1

    try:
        [row] = journal.wait_until_all(1, "downloading", timeout=60)
        wait_for(a_part_stored, timeout=60, what="a part streamed")
        pipeline["uploader"].kill()
        pipeline.replace("uploader")

        [row] = journal.wait_until_all(1, timeout=180)

        _assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
        assert _stored(journal, row["id"])["parts_already_stored"] >= 1  # not sent again
        assert _upload_record(database_url, row["id"]) is None
    finally:
        journal.close()
