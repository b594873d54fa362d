"""The dashboard's numbers are computed once per interval, however many ask at once."""

import asyncio
from typing import Any

import pytest

from services.admin.dashboard import stats
from services.admin.dashboard.schemas import StatsOut
from services.admin.dashboard.stats import StatsCache


def _numbers(total: int) -> StatsOut:
    return StatsOut(counts={}, total=total, in_flight=0, stored_per_minute=[],
                    oldest_unfinished=None, servers=[], spools=[])


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    done: list[int] = []

    async def collect(pool: Any, *, lost_after: int) -> StatsOut:
        await asyncio.sleep(0)  # let the other callers arrive while this one runs
        done.append(len(done) + 1)
        return _numbers(len(done))

    monkeypatch.setattr(stats, "collect", collect)
    return done


async def test_concurrent_callers_share_one_computation(computations: list[int]) -> None:
    cache = StatsCache(pool=None, max_age=60, lost_after=60)  # type: ignore[arg-type]
    results = await asyncio.gather(*(cache.get() for _ in range(20)))
    assert computations == [1]
    assert {r.total for r in results} == {1}
    assert (await cache.get()).total == 1


async def test_numbers_older_than_max_age_are_recomputed(computations: list[int]) -> None:
    cache = StatsCache(pool=None, max_age=0, lost_after=60)  # type: ignore[arg-type]
    assert (await cache.get()).total == 1
    assert (await cache.get()).total == 2
