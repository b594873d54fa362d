"""A partner's session cap holds across replicas: three downloaders (and discovery) share
``servers.max_connections`` through PostgreSQL, measured by a proxy in front of the
partner that counts its open connections."""

import pytest

from tests.harness import HAPPY_PATH, make_inbox, write_random

pytestmark = pytest.mark.faults

MiB = 1024 * 1024


def test_three_downloaders_never_open_more_sessions_than_the_partner_allows(
        start_pipeline_replicas, sftp_server, sftp_proxy, watch, name):
    remote, local = make_inbox(sftp_server, name)
    # Files larger than the read window go alone, one session each; the small ones in
    # batches, one session per batch: every replica wants sessions at once.
    digests = {f"big{i}.bin": write_random(local / f"big{i}.bin", 12 * MiB + i)
               for i in range(6)}
    digests |= {f"s{i:03d}.dat": write_random(local / f"s{i:03d}.dat", 2000 + i)
                for i in range(240)}
    pipeline = start_pipeline_replicas(
        {"downloader": 3},
        # A short wait so that files also go the way of a wait that ran out: back on their
        # queue, no attempt spent.
        INTAKE_SESSION_SLOT_WAIT_SECONDS="2", INTAKE_BATCH_MAX_FILES="20")
    journal = watch(pipeline, remote, port=sftp_proxy.port, max_connections=2,
                    min_file_age_s=0)

    rows = journal.wait_until_all(len(digests), timeout=600)

    assert {row["filename"]: row["sha256"] for row in rows} == digests
    for row in rows:  # a file that waited for a session was never failed or retried
        assert [event for event, _ in journal.events(row["id"])] == HAPPY_PATH, row["filename"]
    # Over 0.2 s together: not the proxy's own lag in seeing a closed session go.
    assert sftp_proxy.most_open_for(0.2) <= 2, \
        f"the partner saw {sftp_proxy.most_open_for(0.2)} at once"
    assert sftp_proxy.most_open >= 2  # the replicas did share the partner
    assert any('"session_wait"' in replica.log_path.read_text()
               for replica in pipeline.replicas["downloader"])
