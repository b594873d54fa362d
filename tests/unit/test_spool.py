"""The spool's names, its free-space check and its keep-rules (which copies the janitor
may remove), without a database."""

import os
import time
import uuid
from pathlib import Path

import pytest

from infra.file_states import Status
from infra.spool.keep import ORPHAN_GRACE_SECONDS, may_remove
from infra.spool.paths import Spool
from infra.spool.space import SpoolFull, check_free_space

# status -> (complete copy kept, .part kept); the janitor's integration test uses it too
KEPT = {
    "discovered": (True, True),
    "downloading": (True, True),
    "downloaded": (True, False),
    "storing": (True, False),
    "stored": (False, False),
    "notified": (False, False),
    "failed": (True, True),
    "missing": (False, False),
}


def test_the_keep_rules_cover_every_status() -> None:
    assert set(KEPT) == set(Status)


def test_a_copy_is_named_after_its_file(tmp_path: Path) -> None:
    spool, file_id = Spool(tmp_path), uuid.uuid4()
    assert spool.partial(file_id) == tmp_path / f"{file_id}.part"
    assert spool.complete(file_id) == tmp_path / str(file_id)
    assert spool.partial("f") == tmp_path / "f.part"
    assert spool.is_partial(spool.partial(file_id))
    assert not spool.is_partial(spool.complete(file_id))


def test_the_file_of_a_copy_is_read_back_from_its_name(tmp_path: Path) -> None:
    spool, file_id = Spool(tmp_path), uuid.uuid4()
    assert spool.file_id_of(spool.partial(file_id)) == file_id
    assert spool.file_id_of(spool.complete(file_id)) == file_id
    assert spool.file_id_of(tmp_path / "notes.txt") is None
    assert spool.file_id_of(tmp_path / "notes.part") is None


def test_the_listing_holds_only_the_spools_own_copies(tmp_path: Path) -> None:
    spool, partial, complete = Spool(tmp_path), uuid.uuid4(), uuid.uuid4()
    spool.partial(partial).write_bytes(b"half")
    spool.complete(complete).write_bytes(b"whole")
    (tmp_path / "notes.txt").write_bytes(b"not ours")
    (tmp_path / str(uuid.uuid4())).mkdir()
    assert spool.files() == {spool.partial(partial): partial, spool.complete(complete): complete}


def test_ensure_creates_the_directory_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "a" / "spool")
    spool.ensure()
    spool.ensure()
    assert spool.root.is_dir()


def test_a_file_that_does_not_fit_with_the_reserve_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    stats = os.statvfs(tmp_path)
    free = stats.f_bavail * stats.f_frsize
    check_free_space(spool, 0, 0)
    with pytest.raises(SpoolFull, match="plus a reserve of"):
        check_free_space(spool, free, 1024**4)
    with pytest.raises(SpoolFull):
        check_free_space(spool, 1024**5, 0)


@pytest.mark.parametrize("status", sorted(KEPT))
def test_a_copy_is_kept_while_its_file_may_need_it(tmp_path: Path, status: str) -> None:
    spool, file_id, now = Spool(tmp_path), uuid.uuid4(), time.time()
    complete_kept, partial_kept = KEPT[status]
    assert may_remove(spool, spool.complete(file_id), status, now) is not complete_kept
    assert may_remove(spool, spool.partial(file_id), status, now) is not partial_kept


@pytest.mark.parametrize("partial", [False, True], ids=["complete", "partial"])
def test_a_copy_without_a_file_waits_out_the_grace_period(tmp_path: Path,
                                                          partial: bool) -> None:
    spool, file_id = Spool(tmp_path), uuid.uuid4()
    path = spool.partial(file_id) if partial else spool.complete(file_id)
    path.write_bytes(b"an upload still streaming in, or left behind")
    written = path.stat().st_mtime
    assert not may_remove(spool, path, None, written + ORPHAN_GRACE_SECONDS - 1)
    assert may_remove(spool, path, None, written + ORPHAN_GRACE_SECONDS)


def test_a_spool_keeps_its_identity_in_its_directory(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from infra.spool import identity

    assert identity.resolve(tmp_path / "configured", "pod-7f9c") == "pod-7f9c"
    root = tmp_path / "spool"
    with ThreadPoolExecutor(8) as pool:  # a downloader and an uploader starting at once
        ids = set(pool.map(lambda _: identity.resolve(root, None), range(16)))
    assert len(ids) == 1
    [made] = ids
    assert identity.resolve(root, None) == made
    assert [p.name for p in root.iterdir()] == [identity.ID_FILE]
    assert Spool(root).files() == {}  # the janitor leaves it alone
    wiped = tmp_path / "wiped"
    assert identity.resolve(wiped, None) != made  # a new disk is a new spool


def test_a_spool_id_file_that_is_not_an_id_stops_the_start(tmp_path: Path) -> None:
    from infra.spool import identity

    (tmp_path / identity.ID_FILE).write_text("../../etc\n")
    with pytest.raises(identity.SpoolIdentityError, match="not a spool id"):
        identity.resolve(tmp_path, None)
