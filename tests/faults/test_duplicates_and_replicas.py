"""Competing replicas: every file is processed exactly once. (A duplicate or replayed
message is a no-op of one stage, tested in-process: tests/integration/stages/.)"""

from collections import Counter

import pytest

from tests.harness import HAPPY_PATH, drain_notifications, make_inbox, write_random

pytestmark = pytest.mark.faults


def test_three_replicas_of_every_stage_process_each_file_once(
        start_pipeline_replicas, sftp_server, watch, name, amqp_url, settings_env):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"r{i:03d}.dat": write_random(local / f"r{i:03d}.dat", 1000 + i)
               for i in range(300)}
    pipeline = start_pipeline_replicas({"discovery": 3, "downloader": 3, "uploader": 3,
                                        "notifier": 3})
    journal = watch(pipeline, remote)
    rows = journal.wait_until_all(300, timeout=300)
    assert {r["filename"]: r["sha256"] for r in rows} == digests
    for row in rows:
        assert [e for e, _ in journal.events(row["id"])] == HAPPY_PATH, row["filename"]
    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    counts = Counter(mid for mid, _ in notices)
    assert all(counts[str(row["id"])] == 1 for row in rows)
