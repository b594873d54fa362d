"""A service killed right after it committed a state change, before it published the message
that moves the file on: the state and the message were one fact (the outbox), so the relay
of the services still running sends it seconds later. The reconciler, which re-drives
only after INTAKE_REDRIVE_AFTER_SECONDS, is kept out of reach here."""

import time
from collections import Counter

import psycopg
import pytest
from minio import Minio

from tests.harness import (
    HAPPY_PATH,
    drain_notifications,
    make_inbox,
    sha256_of_object,
    write_random,
)
from tests.processes import wait_for

pytestmark = pytest.mark.faults

FAULT = "INTAKE_FAULT_EXIT_AFTER_COMMIT"
RECOVERY_SECONDS = 30


@pytest.mark.parametrize(("service", "stage", "files"), [
    ("discovery", "discovered", 1), ("downloader", "downloaded", 1), ("uploader", "stored", 1),
    ("downloader", "downloaded", 20), ("uploader", "stored", 20)])  # 20: one batch
def test_a_crash_between_commit_and_publish_costs_seconds(
        service, stage, files, start_pipeline, sftp_server, watch, name, s3, settings_env,
        amqp_url, database_url):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"a{i:02d}.csv": write_random(local / f"a{i:02d}.csv", 4096)
               for i in range(files)}
    # Nothing but the outbox may save the files: no re-drive and no spool loss for minutes.
    pipeline = start_pipeline(service_env={service: {FAULT: stage}},
                              INTAKE_REDRIVE_AFTER_SECONDS="600",
                              INTAKE_SPOOL_LOST_AFTER_SECONDS="600")
    journal = watch(pipeline, remote)
    crashed = pipeline[service].process
    assert crashed is not None
    wait_for(lambda: crashed.poll() is not None, timeout=60, interval=0.02,
             what=f"{service} to exit after its commit")
    killed_at = time.monotonic()
    rows = journal.files()
    assert crashed.returncode == 137, "not the window under test"
    assert [row["status"] for row in rows] == [stage] * files, "not the window under test"

    pipeline.replace(service, without=[FAULT])
    rows = journal.wait_until_all(files, timeout=RECOVERY_SECONDS)
    recovered = time.monotonic() - killed_at
    print(f"{service} killed after committing {files} x {stage}: notified {recovered:.1f}s later")

    assert recovered <= RECOVERY_SECONDS
    notices = Counter(mid for mid, _ in drain_notifications(
        amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"]))
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)
    for row in rows:
        assert row["sha256"] == digests[row["filename"]]
        assert sha256_of_object(client, row["bucket"], row["object_key"]) == row["sha256"]
        assert notices[str(row["id"])] == 1
        names = [event for event, _ in journal.events(row["id"])]
        assert names == HAPPY_PATH, names
    with psycopg.connect(database_url, autocommit=True) as conn:
        wait_for(lambda: conn.execute(
            "SELECT count(*) FROM outbox WHERE body::text LIKE ANY(%s)",
            ([f"%{row['id']}%" for row in rows],)).fetchone() == (0,),
            timeout=5, what="the outbox to forget the files' messages")
