"""A job's local path names a regular file under the root, or is refused before it is looked
up: nothing outside the root is read, nor shown to exist."""

import os
from pathlib import Path

import pytest

from infra.job_sources import (
    SourceNotFound,
    SourceRefused,
    local_path,
    opened,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """root/{a.csv, sub/b.csv, empty/} beside outside/{secret.csv}."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.csv").write_text("a,b\n1,2\n")
    (root / "sub" / "b.csv").write_text("a\n3\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.csv").write_text("secret\n")
    return root


def test_a_file_in_the_root_and_in_a_subdirectory_resolve(root: Path) -> None:
    assert local_path(root, "a.csv") == (root / "a.csv").resolve()
    assert local_path(root, "sub/b.csv") == (root / "sub" / "b.csv").resolve()
    assert local_path(root, "./sub//b.csv") == (root / "sub" / "b.csv").resolve()


def test_a_root_given_through_a_symlink_works(root: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(root)
    assert local_path(tmp_path / "link", "sub/b.csv") == (root / "sub" / "b.csv").resolve()


def test_a_symlink_to_another_file_inside_the_root_is_allowed(root: Path) -> None:
    (root / "latest.csv").symlink_to(root / "sub" / "b.csv")
    (root / "current").symlink_to("sub")
    assert local_path(root, "latest.csv") == (root / "sub" / "b.csv").resolve()
    assert local_path(root, "current/b.csv") == (root / "sub" / "b.csv").resolve()


@pytest.mark.parametrize(("path", "why"), [
    ("../x", "has a '..' component"),
    ("a/../../x", "has a '..' component"),
    ("sub/..", "has a '..' component"),
    ("/etc/passwd", "is absolute; paths are relative to the root"),
    ("", "names no file"),
    (".", "names no file"),
    ("a.csv\0.txt", "contains a NUL byte"),
])
def test_a_path_that_could_leave_the_root_is_refused(root: Path, path: str, why: str) -> None:
    with pytest.raises(SourceRefused) as refused:
        local_path(root, path)
    assert str(refused.value) == f"path {path!r} {why}"


def test_a_symlink_leading_out_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "file").symlink_to(tmp_path / "outside" / "secret.csv")
    (root / "dir").symlink_to(tmp_path / "outside")
    (root / "sub" / "up").symlink_to("../..")
    for path in ("file", "dir/secret.csv", "sub/up/outside/secret.csv"):
        with pytest.raises(SourceRefused, match="leads outside the root"):
            local_path(root, path)


def test_whether_a_file_outside_exists_is_not_shown(root: Path, tmp_path: Path) -> None:
    (root / "dir").symlink_to(tmp_path / "outside")
    with pytest.raises(SourceRefused, match="leads outside the root"):
        local_path(root, "dir/no-such.csv")


def test_a_directory_or_a_fifo_is_not_a_regular_file(root: Path) -> None:
    os.mkfifo(root / "pipe")
    for path in ("empty", "sub", "pipe"):
        with pytest.raises(SourceRefused) as refused:
            local_path(root, path)
        assert str(refused.value) == f"path {path!r} is not a regular file"


def test_a_missing_file_is_not_found(root: Path) -> None:
    for path in ("missing.csv", "sub/missing.csv", "nodir/x.csv", "a.csv/x"):
        with pytest.raises(SourceNotFound) as missing:
            local_path(root, path)
        assert str(missing.value) == f"no file {path!r} under the jobs root"


def test_a_symlink_loop_is_refused(root: Path) -> None:
    (root / "loop").symlink_to("loop")
    with pytest.raises(SourceRefused, match="cannot be resolved"):
        local_path(root, "loop")


def _opened(source: dict[str, str], local_root: Path | None):
    """A job's source opened as the processor opens it; no S3 client is reached here."""
    return opened(source, client=None, allowed_buckets={"intake"}, retries=0,
                  local_root=local_root)


def test_a_job_s_local_source_opens_with_its_size(root: Path) -> None:
    with _opened({"source": "local", "path": "sub/b.csv"}, root) as (stream, size):
        assert size == 4 and stream.read() == b"a\n3\n"


@pytest.mark.parametrize(("source", "local_root", "refusal"), [
    ({"source": "local", "path": "a.csv"}, None, "reads no local files"),
    ({"source": "s3", "bucket": "other", "key": "a.csv"}, Path("/"), "not one the processor"),
    ({"source": "ftp", "path": "a.csv"}, Path("/"), "unknown job source 'ftp'"),
])
def test_a_source_this_processor_does_not_read_is_refused(
        source: dict[str, str], local_root: Path | None, refusal: str) -> None:
    with pytest.raises(SourceRefused, match=refusal), _opened(source, local_root):
        pass

