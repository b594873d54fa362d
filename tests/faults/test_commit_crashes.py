"""A service killed right after it committed a state change, before it published the message
that moves the file on: the state and the message were one fact (the outbox), so the relay
of the services still running sends it seconds later. The reconciler, which re-drives
only after INTAKE_REDRIVE_AFTER_SECONDS, is kept out of reach here."""

import time

import psycopg
import pytest

from tests.harness import assert_delivered_once, make_inbox, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults

FAULT = "INTAKE_FAULT_EXIT_AFTER_COMMIT"
RECOVERY_SECONDS = 30


@pytest.mark.parametrize(("service", "stage"), [
    ("discovery", "discovered"), ("downloader", "downloaded"), ("uploader", "stored")])
def test_a_crash_between_commit_and_publish_costs_seconds(
        service, stage, start_pipeline, sftp_server, watch, name, s3, settings_env, amqp_url,
        database_url):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "a.csv", 4096)
    # Nothing but the outbox may save the file: no re-drive and no spool loss for minutes.
    pipeline = start_pipeline(service_env={service: {FAULT: stage}},
                              INTAKE_REDRIVE_AFTER_SECONDS="600",
                              INTAKE_SPOOL_LOST_AFTER_SECONDS="600")
    journal = watch(pipeline, remote)
    crashed = pipeline[service].process
    assert crashed is not None
    wait_for(lambda: crashed.poll() is not None, timeout=60, interval=0.02,
             what=f"{service} to exit after its commit")
    killed_at = time.monotonic()
    [row] = journal.files()
    assert (crashed.returncode, row["status"]) == (137, stage), "not the window under test"

    pipeline.replace(service, without=[FAULT])
    [row] = journal.wait_until_all(1, timeout=RECOVERY_SECONDS)
    recovered = time.monotonic() - killed_at
    print(f"{service} killed after committing {stage}: notified {recovered:.1f}s later")

    assert recovered <= RECOVERY_SECONDS
    names = assert_delivered_once(journal, row, digest, s3, settings_env, amqp_url)
    assert names.count("download_started") == names.count("upload_started") == 1
    with psycopg.connect(database_url, autocommit=True) as conn:
        wait_for(lambda: conn.execute("SELECT count(*) FROM outbox WHERE message_id LIKE %s",
                                      (f"{row['id']}:%",)).fetchone() == (0,),
                 timeout=5, what="the outbox to forget the file's messages")
