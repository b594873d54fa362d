"""A large file uploaded while it downloads, through the real services: an uploader killed
mid-stream loses nothing, and the parts it sent are not sent again. (The stream itself is
tested in-process: tests/integration/stages/test_uploader.py.)"""

import psycopg
import pytest
from minio import Minio
from psycopg.rows import dict_row

from infra.multipart import MultipartSteps
from tests.harness import assert_delivered_once, make_inbox, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults

MiB = 1024 * 1024
SIZE = 40 * MiB  # five 8 MiB parts
STREAMED = {"INTAKE_STREAM_UPLOAD_MIN_BYTES": str(16 * MiB)}


def _upload_record(database_url: str, file_id) -> dict | None:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM multipart_uploads WHERE file_id = %s",
                            (file_id,)).fetchone()


def test_uploader_killed_while_streaming(start_pipeline, sftp_server, sftp_proxy, watch, name,
                                         database_url, s3, settings_env, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", SIZE)
    sftp_proxy.latency = 0.005
    pipeline = start_pipeline(**STREAMED)
    journal = watch(pipeline, remote, port=sftp_proxy.port)
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)

    def a_part_stored() -> bool:
        record = _upload_record(database_url, row["id"])
        if record is None or record["upload_id"] is None:
            return False
        listed = MultipartSteps(client, settings_env["INTAKE_S3_BUCKET"]).list_parts(
            record["object_key"], record["upload_id"])
        return len(listed.parts) >= 1

    [row] = journal.wait_until_all(1, "downloading", timeout=60)
    wait_for(a_part_stored, timeout=60, what="a part streamed")
    pipeline["uploader"].kill()
    pipeline.replace("uploader")

    [row] = journal.wait_until_all(1, timeout=180)

    assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
    [stored] = [details for event, details in journal.events(row["id"]) if event == "stored"]
    assert stored["parts_already_stored"] >= 1  # not sent again
    assert _upload_record(database_url, row["id"]) is None
