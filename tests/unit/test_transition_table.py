"""The transition table walked as a graph: the pipeline's path, its ends, and what it refuses."""

import pytest

from infra.file_states import FINISHED, RETRYABLE, TRANSITIONS, IllegalMove, Status
from infra.file_states.states import REMOTE_ACTION_EVENTS, check, sql_list


def _reachable(start: Status | None) -> set[Status]:
    seen: set[Status] = set()
    todo = [start]
    while todo:
        source = todo.pop()
        for move in TRANSITIONS:
            if move.source == source and move.target not in seen:
                seen.add(move.target)
                todo.append(move.target)
    return seen


def test_the_happy_path_is_one_event_per_step() -> None:
    status: Status | None = None
    for event, target in [
        ("discovered", Status.DISCOVERED), ("download_started", Status.DOWNLOADING),
        ("downloaded", Status.DOWNLOADED), ("upload_started", Status.STORING),
        ("stored", Status.STORED), ("notified", Status.NOTIFIED),
    ]:
        check(status, target, event)
        status = target


def test_every_status_is_reachable_and_failed_and_missing_are_reachable_from_a_new_file() -> None:
    assert _reachable(None) == set(Status)
    assert {Status.FAILED, Status.MISSING} <= _reachable(Status.DISCOVERED)


def test_nothing_leaves_notified_and_only_a_retry_leaves_failed_or_missing() -> None:
    assert _reachable(Status.NOTIFIED) == set()
    assert {move.event for move in TRANSITIONS if move.source in (Status.FAILED, Status.MISSING)
            and move.target != move.source} == {"retried"}
    # The one move that stays: a failed file's spool copy expired.
    assert {move for move in TRANSITIONS if move.event == "spool_expired"} == {
        (Status.FAILED, Status.FAILED, "spool_expired")}
    assert {Status.FAILED, Status.MISSING} == RETRYABLE
    assert {Status.NOTIFIED, Status.FAILED, Status.MISSING} == FINISHED


@pytest.mark.parametrize("status", [s for s in Status if s not in FINISHED])
def test_every_unfinished_status_can_still_end_notified(status: Status) -> None:
    assert Status.NOTIFIED in _reachable(status)


@pytest.mark.parametrize(("source", "target", "event"), [
    (Status.NOTIFIED, Status.DISCOVERED, "retried"),
    (Status.DISCOVERED, Status.STORED, "stored"),
    (Status.DOWNLOADING, Status.DOWNLOADED, "stored"),
    (None, Status.DOWNLOADED, "uploaded"),  # an upload arrives stored, in the bucket
])
def test_a_move_not_in_the_table_raises(source: Status | None, target: Status,
                                        event: str) -> None:
    with pytest.raises(IllegalMove):
        check(source, target, event)


def test_status_lists_for_sql_follow_the_enum_order() -> None:
    assert sql_list(FINISHED) == "'notified', 'failed', 'missing'"
    assert sql_list([Status.STORING, Status.DOWNLOADING]) == "'downloading', 'storing'"


def test_post_fetch_events_are_beside_the_statuses_never_a_move_of_one() -> None:
    assert not REMOTE_ACTION_EVENTS & {move.event for move in TRANSITIONS}
    assert not REMOTE_ACTION_EVENTS & {str(status) for status in Status}
