"""Partner-side trouble: cut connections, vanished, growing and empty files."""

import hashlib
import signal

import pytest

from tests.harness import Journal, make_inbox, register_server, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults


@pytest.fixture
def journal_for(database_url):
    journals: list[Journal] = []

    def open_journal(server: dict) -> Journal:
        journals.append(Journal(database_url, server["id"]))
        return journals[-1]

    yield open_journal
    for journal in journals:
        journal.close()


def test_a_cut_download_resumes_from_the_spool(start_pipeline, sftp_server, sftp_proxy,
                                               journal_for, admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "big.bin", 24 * 1024 * 1024)
    pipeline = start_pipeline()
    sftp_proxy.cut_after(10 * 1024 * 1024)
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             port=sftp_proxy.port, token=admin_token)
    journal = journal_for(server)

    [row] = journal.wait_until_all(1, timeout=120)

    assert sftp_proxy.cuts == 1
    assert row["sha256"] == digest
    events = journal.events(row["id"])
    names = [event for event, _ in events]
    assert names.count("download_failed") == 1
    assert names.count("download_started") == 2
    downloaded = next(details for event, details in events if event == "downloaded")
    assert downloaded["resumed_from"] > 0


def test_an_empty_file_is_stored(start_pipeline, sftp_server, journal_for, admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    write_random(local / "empty.csv", 0)
    pipeline = start_pipeline()
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)

    [row] = journal_for(server).wait_until_all(1, timeout=60)

    assert row["size"] == 0
    assert row["sha256"] == hashlib.sha256(b"").hexdigest()


def test_a_growing_file_is_taken_only_once_it_stops(start_pipeline, sftp_server, journal_for,
                                                    admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    write_random(local / "growing.log", 1000)
    pipeline = start_pipeline()
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token, min_file_age_s=2)
    journal = journal_for(server)
    with (local / "growing.log").open("ab") as log:
        for _ in range(6):  # one append per scan: the file never looks stable
            journal.wait_for_next_scan()
            log.write(b"x" * 100)
            log.flush()
    assert journal.files() == []
    final = hashlib.sha256((local / "growing.log").read_bytes()).hexdigest()

    [row] = journal.wait_until_all(1, timeout=60)

    assert row["sha256"] == final
    assert row["size"] == 1600


def test_a_file_deleted_after_listing_becomes_missing(start_pipeline, sftp_server, journal_for,
                                                      admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    write_random(local / "fleeting.csv", 500)
    pipeline = start_pipeline()
    downloader = pipeline["downloader"].process
    downloader.send_signal(signal.SIGSTOP)  # discovery lists it; nobody downloads it yet
    try:
        server = register_server(pipeline["admin"].url, sftp_server, name=name,
                                 remote_dir=remote, token=admin_token)
        journal = journal_for(server)
        journal.wait_until_all(1, "discovered", timeout=60)
        (local / "fleeting.csv").unlink()
    finally:
        downloader.send_signal(signal.SIGCONT)

    [row] = journal.wait_until_all(1, "missing", timeout=60)

    assert "no longer exists" in row["error_message"]
    assert [e for e, _ in journal.events(row["id"])] == [
        "discovered", "download_started", "missing"]


def test_a_file_changed_during_download_is_abandoned_for_its_new_version(
        start_pipeline, sftp_server, sftp_proxy, journal_for, admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    write_random(local / "report.csv", 8 * 1024 * 1024)
    sftp_proxy.latency = 0.01  # slow the copy so the file can change under it
    pipeline = start_pipeline()
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             port=sftp_proxy.port, token=admin_token)
    journal = journal_for(server)
    journal.wait_until_all(1, "downloading", timeout=60)
    digest = write_random(local / "report.csv", 1024)
    sftp_proxy.latency = 0

    rows = wait_for(lambda: (r := journal.files()) and len(r) == 2
                    and {x["status"] for x in r} == {"missing", "notified"} and r,
                    timeout=90, what="old version missing, new version notified")

    new = next(r for r in rows if r["status"] == "notified")
    assert new["sha256"] == digest
    old = next(r for r in rows if r["status"] == "missing")
    assert "changed on the server" in old["error_message"]


def test_an_unreadable_file_fails_at_once_with_the_reason(start_pipeline, sftp_server,
                                                          journal_for, admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    write_random(local / "secret.csv", 100)
    (local / "secret.csv").chmod(0o000)
    pipeline = start_pipeline()
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)

    [row] = journal_for(server).wait_until_all(1, "failed", timeout=60)

    assert "permission denied" in row["error_message"]
    events = journal_for(server).events(row["id"])
    assert [e for e, _ in events] == ["discovered", "download_started", "download_failed"]
    assert events[-1][1]["status"] == "failed"


def test_a_full_spool_delays_files_without_failing_them(start_pipeline, sftp_server,
                                                        journal_for, admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    digest = write_random(local / "waits.bin", 5000)
    pipeline = start_pipeline(INTAKE_SPOOL_RESERVE_BYTES=str(10**18))  # never enough space
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = journal_for(server)
    journal.wait_until_all(1, "discovered", timeout=60)
    wait_for(lambda: "spool_full" in pipeline["downloader"].log_path.read_text(), timeout=30,
             what="the downloader to notice the full spool")
    assert [r["status"] for r in journal.files()] == ["discovered"]

    pipeline["downloader"].stop()
    pipeline.env["INTAKE_SPOOL_RESERVE_BYTES"] = "0"  # space was freed
    pipeline.replace("downloader")

    [row] = journal.wait_until_all(1, timeout=90)
    assert row["sha256"] == digest
    assert row["status"] == "notified"
