"""Soak: 2,000 files on two hosts (each a downloader+uploader pair with a spool of its own)
while random services are SIGKILLed every few seconds, and once a whole host is lost (its
pair killed, its spool deleted) and replaced by a new one.

Not part of the default run: ``./test.sh -m soak tests/faults/test_soak.py -s``.
"""

import contextlib
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.harness import Journal, drain_notifications, make_inbox, register_server, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.soak

FILES = int(os.environ.get("INTAKE_SOAK_FILES", "2000"))
KILL_EVERY = float(os.environ.get("INTAKE_SOAK_KILL_EVERY", "1.5"))
KILL_SECONDS = float(os.environ.get("INTAKE_SOAK_KILL_SECONDS", "300"))
HOST_LOSS_AFTER = float(os.environ.get("INTAKE_SOAK_HOST_LOSS_AFTER", "30"))
PIPELINE_SERVICES = ("discovery", "downloader", "uploader", "notifier")


def test_soak_with_random_kills(start_pipeline_replicas, sftp_server, database_url,
                                admin_token, name, amqp_url, settings_env, tmp_path):
    rng = random.Random(os.environ.get("INTAKE_SOAK_SEED"))
    remote, local = make_inbox(sftp_server, name)
    sizes = [rng.choice([0, 1, 10_000, 100_000, 1_000_000, 5_000_000]) for _ in range(FILES)]
    digests = {f"s{i:05d}.bin": write_random(local / f"s{i:05d}.bin", size)
               for i, size in enumerate(sizes)}
    # Files of 1 MB and more take the large-file path (streamed while they download, a
    # recorded multipart upload), so kills land in the middle of streams too.
    pipeline = start_pipeline_replicas({"downloader": 0, "uploader": 0, "notifier": 2},
                                       INTAKE_STREAM_UPLOAD_MIN_BYTES="1000000")
    spools = [tmp_path / "host-a", tmp_path / "host-b"]
    for spool in spools:
        pipeline.add_host(spool)
    host_lost = False
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = Journal(database_url, server["id"])
    kills: Counter[str] = Counter()
    started = time.monotonic()

    def all_done() -> bool:
        rows = journal.files()
        return len(rows) == FILES and all(r["status"] == "notified" for r in rows)

    try:
        while time.monotonic() - started < KILL_SECONDS and not all_done():
            if not host_lost and time.monotonic() - started > HOST_LOSS_AFTER:
                # A whole host is lost: its pair killed, its spool gone; a new host comes.
                lost = spools.pop(rng.randrange(len(spools)))
                pipeline.remove_host(lost)
                shutil.rmtree(lost)
                spools.append(tmp_path / "host-c")
                pipeline.add_host(spools[-1])
                host_lost = True
            victim = rng.choice(PIPELINE_SERVICES)
            index = rng.randrange(len(pipeline.replicas[victim]))
            pipeline.replicas[victim][index].kill()
            kills[victim] += 1
            pipeline.replace(victim, index)
            with contextlib.suppress(TimeoutError):
                wait_for(all_done, timeout=KILL_EVERY, interval=0.5, what="all notified")
        wait_for(all_done, timeout=1200, interval=1, what="all notified after the kills")
        rows = journal.files()
        wrong = [r["filename"] for r in rows if r["sha256"] != digests[r["filename"]]]
    finally:
        journal.close()
    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    per_file = Counter(mid for mid, _ in notices)
    ids = {str(r["id"]) for r in rows}

    def orphans() -> list[Path]:
        return [p for spool in spools for p in spool.iterdir() if p.name.split(".")[0] in ids]

    with contextlib.suppress(TimeoutError):  # the janitor sweeps every few seconds here
        wait_for(lambda: not orphans(), timeout=60, what="the spool swept")
    spool = orphans()
    print(f"SOAK files={FILES} notified={len(rows)} sha256_mismatches={len(wrong)} "
          f"kills={sum(kills.values())} {dict(kills)} "
          f"stored_from_streamed_parts={_streamed(database_url, server['id'])} "
          f"duplicate_notices={sum(1 for r in rows if per_file[str(r['id'])] > 1)} "
          f"orphan_spool_files={len(spool)} hosts=2 hosts_lost={int(host_lost)} "
          f"spool_lost_events={_events(database_url, server['id'], 'spool_lost')} "
          f"seconds={time.monotonic() - started:.0f}")
    assert host_lost
    assert wrong == []
    assert all(per_file[str(r["id"])] >= 1 for r in rows)
    assert spool == []


def _events(database_url: str, server_id: int, event: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM file_events e JOIN files f ON f.id = e.file_id"
            " WHERE f.server_id = %s AND e.event = %s", (server_id, event)).fetchone()
    return row[0] if row else 0


def _streamed(database_url: str, server_id: int) -> int:
    """Files whose parts were (partly) in the bucket before their upload stage began."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM file_events e JOIN files f ON f.id = e.file_id"
            " WHERE f.server_id = %s AND e.event = 'stored'"
            " AND (e.details->>'parts_already_stored')::int > 0", (server_id,)).fetchone()
    return row[0] if row else 0
