"""Several hosts on one machine, each a downloader+uploader pair with a spool directory of
its own: a copy is read only by the uploader of the host that downloaded it, a lost host
loses no file, and a copy no uploader can read is failed after a bound, not looped on."""

import random
import shutil
from pathlib import Path

import psycopg
import pytest

from tests.faults.proxy import FaultProxy
from tests.harness import drain_notifications, make_inbox, sha256_of_object, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults

MiB = 1024 * 1024
LARGE = {"INTAKE_STREAM_UPLOAD_MIN_BYTES": str(8 * MiB)}
ONLY_HOSTS = {"downloader": 0, "uploader": 0}  # the pairs are started as hosts


def spool_id(spool_dir: Path) -> str:
    """The identity the pair sharing ``spool_dir`` gave it (infra.spool.identity)."""
    return (spool_dir / ".spool-id").read_text().strip()


def drop_files(local: Path, count: int, *, prefix: str, large: int = 0) -> dict[str, str]:
    """``count`` small files of random sizes, ``large`` of 20 MiB; their sha256 by name."""
    sizes = [random.randint(0, 64 * 1024) for _ in range(count)] + [20 * MiB] * large
    return {name: write_random(local / name, size)
            for name, size in ((f"{prefix} {i:03d} ü.dat", size) for i, size in
                               enumerate(sizes))}


def journals(database_url: str, server_id: int) -> dict[str, list[tuple[str, dict]]]:
    """Every file's events, by filename."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT f.filename, e.event, e.details FROM file_events e"
            " JOIN files f ON f.id = e.file_id WHERE f.server_id = %s ORDER BY e.id",
            (server_id,)).fetchall()
    found: dict[str, list[tuple[str, dict]]] = {}
    for filename, event, details in rows:
        found.setdefault(filename, []).append((event, details))
    return found


def assert_read_where_downloaded(events: list[tuple[str, dict]]) -> None:
    """Each upload and stream of a copy happened in the spool its download wrote to."""
    spool = None
    for event, details in events:
        if event == "download_started":
            spool = details["spool"]
        elif event == "upload_started":
            assert details["spool"] == spool, events


def assert_stored_and_notified_once(rows: list[dict], digests: dict[str, str], s3,
                                    settings_env: dict[str, str], amqp_url: str) -> None:
    from minio import Minio

    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)
    assert {row["filename"]: row["sha256"] for row in rows} == digests
    for row in rows:
        assert sha256_of_object(client, row["bucket"], row["object_key"]) == row["sha256"]
    notices = [mid for mid, _ in drain_notifications(amqp_url,
                                                     settings_env["INTAKE_NOTIFY_QUEUE"])]
    assert sorted(n for n in notices if n in {str(r["id"]) for r in rows}) == sorted(
        str(row["id"]) for row in rows)


def test_two_hosts_upload_only_the_copies_they_downloaded(
        start_pipeline_replicas, sftp_server, watch, name, tmp_path, database_url, s3,
        settings_env, amqp_url):
    pipeline = start_pipeline_replicas(ONLY_HOSTS, **LARGE)
    spools = [tmp_path / "host-a", tmp_path / "host-b"]
    for spool_dir in spools:
        pipeline.add_host(spool_dir)
    remote, local = make_inbox(sftp_server, name)
    digests = drop_files(local, 298, prefix="mixed", large=2)

    journal = watch(pipeline, remote)
    rows = journal.wait_until_all(300, timeout=300)

    assert_stored_and_notified_once(rows, digests, s3, settings_env, amqp_url)
    events = journals(database_url, journal.server_id)
    for name_ in digests:
        assert_read_where_downloaded(events[name_])
        assert "spool_lost" not in [event for event, _ in events[name_]]
    used = {details["spool"] for file_events in events.values()
            for event, details in file_events if event == "upload_started"}
    assert used == {spool_id(spool_dir) for spool_dir in spools}  # both hosts worked


def test_a_host_lost_mid_run_loses_no_file(start_pipeline_replicas, sftp_server, watch, name,
                                          tmp_path, database_url, s3, settings_env,
                                          amqp_url):
    """Host b stores slowly, so copies wait in its spool; then it dies (SIGKILL, its spool
    deleted) while large and small files are in flight there. Host a takes them over."""
    pipeline = start_pipeline_replicas(ONLY_HOSTS, **LARGE)
    spool_a, spool_b = tmp_path / "host-a", tmp_path / "host-b"
    s3_host, s3_port = s3.endpoint.split(":")
    with FaultProxy(s3_host, int(s3_port)) as slow_s3:
        slow_s3.latency = 0.2
        pipeline.add_host(spool_b, INTAKE_S3_ENDPOINT=f"127.0.0.1:{slow_s3.port}")
        remote, local = make_inbox(sftp_server, name)
        digests = drop_files(local, 40, prefix="early", large=2)
        journal = watch(pipeline, remote)
        on_b = spool_id(spool_b)

        def in_flight_on_b() -> dict[str, str]:
            """filename: status of the files host b holds."""
            with psycopg.connect(database_url) as conn:
                held = conn.execute(
                    "SELECT filename, size, status FROM files WHERE server_id = %s"
                    " AND spool_id = %s AND status IN ('downloading', 'downloaded', 'storing')",
                    (journal.server_id, on_b)).fetchall()
            large = [f for f, size, _ in held if size > MiB]
            enough = len(large) == 2 and len(held) >= 10
            return {f: status for f, _, status in held} if enough else {}

        wait_for(in_flight_on_b, timeout=120, what="copies waiting on host b")
        pipeline.remove_host(spool_b)
        held = in_flight_on_b()  # what host b held when it died
        assert held
        shutil.rmtree(spool_b)
        pipeline.add_host(spool_a)
        digests |= drop_files(local, 40, prefix="late")

        rows = journal.wait_until_all(len(digests), timeout=300)

    assert_stored_and_notified_once(rows, digests, s3, settings_env, amqp_url)
    events = journals(database_url, journal.server_id)
    for filename, file_events in events.items():
        names = [event for event, _ in file_events]
        assert_read_where_downloaded(file_events)
        assert names.count("download_started") <= 3, file_events  # the bound
        if filename not in held:
            continue
        lost = {d["spool"] for e, d in file_events if e == "spool_lost"}
        if held[filename] == "downloading" and not lost:
            # A download b died in, its lease run out before b's spool was found silent:
            # host a claimed it again from downloading (no copy was lost, only a .part).
            retaken = [d["spool"] for e, d in file_events if e == "download_started"]
            assert retaken[-1] != on_b and on_b in retaken, file_events
        else:
            assert lost == {on_b}, file_events


def test_a_copy_no_uploader_can_read_waits_for_its_host_not_loops(start_pipeline_replicas,
                                                                   sftp_server, watch, name,
                                                                   tmp_path):
    """The endless loop of issue 14: a downloader on host a whose uploader is stopped, and
    an uploader on host b with a spool of its own. Before, b's uploader took a's copies,
    found nothing and sent the file back, 140 times a second. Now b never touches a copy
    it does not hold, a's downloader takes no work while its spool shows no life (at most
    one copy is lost, in the seconds before that shows), and once a's uploader is back
    the file is stored from a's spool."""
    pipeline = start_pipeline_replicas({"uploader": 0}, INTAKE_SPOOL_LOST_AFTER_SECONDS="3",
                                       INTAKE_SPOOL_WAIT_SECONDS="1")
    pipeline.add("uploader", INTAKE_SPOOL_DIR=str(tmp_path / "host-b"))
    remote, local = make_inbox(sftp_server, name)
    (local / "tiny.csv").write_bytes(b"id;amount\n1;2.50\n2;3.75\n3;-0.20\n4;9\n")
    (local / "tiny.csv").chmod(0o644)
    journal = watch(pipeline, remote)
    downloader = pipeline["downloader"]

    wait_for(lambda: journal.files() and "spool_silent" in downloader.log_tail(400),
             timeout=60, what="host a's downloader holding the file back")
    [row] = journal.files()
    held_back = [event for event, _ in journal.events(row["id"])]
    assert row["status"] in ("discovered", "downloading")
    assert held_back.count("download_started") <= 2 and held_back.count("spool_lost") <= 1
    assert "upload_started" not in held_back

    pipeline.add("uploader")  # host a's uploader is back, on host a's spool
    [row] = journal.wait_until_all(1, timeout=60)
    events = journal.events(row["id"])
    assert_read_where_downloaded(events)
    assert len(events) <= 12
