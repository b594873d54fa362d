"""The archive directory's small syntax: what it accepts, what it refuses, what it becomes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from infra.archive_paths import archive_directory, check, expand, inside

WHEN = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize(("template", "expected"), [
    ("archive", "inbox/archive"),
    ("archive/%Y/%m/%d", "inbox/archive/2026/03/04"),
    ("./done//%Y-%m-%dT%H/", "inbox/done/2026-03-04T05"),
    ("100%%/%Y", "inbox/100%/2026"),
    ("/srv/archive/%Y", "/srv/archive/2026"),
])
def test_a_template_becomes_one_directory(template: str, expected: str) -> None:
    assert archive_directory(template, "inbox", WHEN) == expected


def test_the_date_is_utc_whatever_the_zone_it_comes_in() -> None:
    east = WHEN.astimezone(timezone(timedelta(hours=20)))
    assert expand("%Y/%m/%d/%H", east) == "2026/03/04/05"


@pytest.mark.parametrize(("template", "reason"), [
    ("", "must not be empty"),
    ("  ", "must not be empty"),
    ("..", "'..'"),
    ("a/../b", "'..'"),
    ("/a/..", "'..'"),
    ("a/%y", "'%y' is no placeholder"),
    ("a/%", "'%' is no placeholder"),
    ("a/%s", "'%s' is no placeholder"),
    (".", "other than the scanned one"),
    ("./", "other than the scanned one"),
    ("a\nb", "control characters"),
    ("a" * 1025, "at most 1024"),
])
def test_a_bad_template_is_refused_with_its_reason(template: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check(template)


def test_dots_in_names_are_not_parents() -> None:
    assert check("a..b/.archive/...") == "a..b/.archive/..."


@pytest.mark.parametrize(("path", "directory", "result"), [
    ("/srv/in", "/srv/in", True),
    ("/srv/in/old", "/srv/in", True),
    ("/srv/in/old", "/srv/in/", True),
    ("/srv/inbox", "/srv/in", False),
    ("/srv", "/srv/in", False),
    ("/anything", "/", True),
])
def test_inside(path: str, directory: str, result: bool) -> None:
    assert inside(path, directory) is result
