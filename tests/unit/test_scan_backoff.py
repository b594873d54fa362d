"""The wait before the next scan of a failing server."""

import pytest

from services.discovery.backoff import backoff_seconds


@pytest.mark.parametrize(("failures", "wait"), [
    (1, 60), (2, 120), (3, 240), (5, 960), (6, 1920), (7, 3600), (8, 3600), (10_000, 3600),
])
def test_the_wait_doubles_per_failure_up_to_the_maximum(failures: int, wait: int) -> None:
    assert backoff_seconds(30, failures, 3600) == wait


def test_the_wait_is_never_shorter_than_the_poll_interval() -> None:
    assert backoff_seconds(7200, 1, 3600) == 7200
    assert backoff_seconds(30, 0, 3600) == 30
