"""Directory listings against a real sshd: the same entries paramiko's own listing gives."""

import os
import uuid
from pathlib import Path

from infra.sftp.listing import Skipped, list_directory, walk
from infra.sftp.session import connect
from tests.harness import make_inbox, sftp_target

AWKWARD = ("hé llo <1>.txt", "tab\there", "new\nline", "ünïcødé-日本.csv", "-dash", "a b c ")



def test_a_listing_matches_paramikos_over_many_answers(sftp_server):
    remote, local = make_inbox(sftp_server, f"list-{uuid.uuid4().hex[:8]}")
    # ~100 names per answer: 5,000 entries need far more answers than are kept in flight.
    for i in range(5000):
        (local / f"f-{i:05d}.dat").write_bytes(b"x" * (i % 7))
    for name in AWKWARD:
        (local / name).write_bytes(name.encode())
    (local / "sub").mkdir()
    os.utime(local / "f-00042.dat", (1_000_000_000, 1_234_567_890))
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        ours = {e.name: (e.mode, e.size, e.mtime)
                for e in list_directory(session.client, remote, depth=4)}
        theirs = {a.filename: (a.st_mode, a.st_size, a.st_mtime)
                  for a in session.client.listdir_attr(remote)}
        # The session is still in step: a request after the listing gets its own answer.
        assert session.client.stat(f"{remote}/f-00042.dat").st_mtime == 1_234_567_890
    assert ours == theirs
    assert len(ours) == 5000 + len(AWKWARD) + 1
    assert ours["f-00042.dat"][2] == 1_234_567_890


def test_walk_descends_and_filters(sftp_server):
    remote, local = make_inbox(sftp_server, f"walk-{uuid.uuid4().hex[:8]}")
    (local / "deep" / "er").mkdir(parents=True)
    for relative in ("a.csv", "b.txt", "skip.part", ".hidden.csv", "deep/c.csv",
                     "deep/er/d.csv"):
        (local / relative).write_bytes(b"1")
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        flat = {e.path for e in walk(session.client, remote, pattern="*.csv")}
        deep = {e.path for e in walk(session.client, remote, pattern="*.csv",
                                     recursive=True)}
    assert flat == {f"{remote}/a.csv"}
    assert deep == {f"{remote}/a.csv", f"{remote}/deep/c.csv", f"{remote}/deep/er/d.csv"}


def test_a_name_that_is_not_utf8_is_skipped_with_a_warning(sftp_server, caplog):
    remote, local = make_inbox(sftp_server, f"latin-{uuid.uuid4().hex[:8]}")
    (local / "fine.csv").write_bytes(b"1")
    Path(os.fsdecode(os.fsencode(local) + b"/caf\xe9.csv")).write_bytes(b"2")  # Latin-1
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        names = [e.name for e in list_directory(session.client, remote)]
    assert names == ["fine.csv"]
    assert "caf\\xe9.csv" in caplog.text and "not UTF-8" in caplog.text


def test_a_loop_of_symlinked_directories_is_never_followed(sftp_server):
    remote, local = make_inbox(sftp_server, f"loop-{uuid.uuid4().hex[:8]}")
    (local / "a").mkdir()
    (local / "a" / "x.csv").write_bytes(b"1")
    (local / "a" / "up").symlink_to("..")  # a/up/a/up/... without end if followed
    (local / "a" / "self").symlink_to(".")
    (local / "b").symlink_to(local / "a")
    skipped = Skipped()
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        found = [e.path for e in walk(session.client, remote, recursive=True, skipped=skipped,
                                      max_depth=1000, max_entries=10_000)]
    assert found == [f"{remote}/a/x.csv"]
    assert skipped.count == 3  # the three links, passed over as no regular file
    assert skipped.complete and skipped.caps_reached() == []


def test_the_walk_stops_at_its_entry_cap(sftp_server):
    remote, local = make_inbox(sftp_server, f"cap-{uuid.uuid4().hex[:8]}")
    for i in range(10):
        (local / f"f{i}.csv").write_bytes(b"1")
    (local / "skip.part").write_bytes(b"1")  # ignored, but read: it counts
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        capped, whole = Skipped(), Skipped()
        first = list(walk(session.client, remote, skipped=capped, max_entries=4))
        # The session is still in step after a listing left mid-way.
        exact = list(walk(session.client, remote, skipped=whole, max_entries=11))
    assert 3 <= len(first) <= 4 and not capped.complete  # one of the 4 read may be ignored
    assert capped.caps_reached() == [
        "the listing stopped at max_listing_entries = 4 entries read: files past them were"
        " not seen"]
    assert len(exact) == 10 and whole.complete  # exactly at the cap is not past it


def test_the_walk_lists_no_directory_below_its_depth_cap(sftp_server):
    remote, local = make_inbox(sftp_server, f"depth-{uuid.uuid4().hex[:8]}")
    (local / "one" / "two" / "three").mkdir(parents=True)
    (local / "one" / "sibling").mkdir()
    for relative in ("top.csv", "one/1.csv", "one/two/2.csv", "one/two/three/3.csv"):
        (local / relative).write_bytes(b"1")
    with connect(sftp_target(sftp_server), connect_timeout=10, io_timeout=30) as session:
        skipped = Skipped()
        found = {e.path for e in walk(session.client, remote, recursive=True,
                                      skipped=skipped, max_depth=1)}
        flat = Skipped()
        alone = {e.path for e in walk(session.client, remote, recursive=True,
                                      skipped=flat, max_depth=0)}
    assert found == {f"{remote}/top.csv", f"{remote}/one/1.csv"}
    assert skipped.too_deep == 2 and skipped.complete
    assert skipped.caps_reached()[0].startswith("2 directories below max_depth = 1 not listed,"
                                                f" the first {remote}/one/")
    assert alone == {f"{remote}/top.csv"}
    assert flat.caps_reached() == [
        f"1 directory below max_depth = 0 not listed, the first {remote}/one"]
