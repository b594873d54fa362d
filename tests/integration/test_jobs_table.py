"""A job's life in the ``jobs`` table: one worker holds it at a time, a lost claim records
nothing, a failed attempt is queued again with its message or failed for good, and the
reconciler finds jobs whose worker died."""

from infra import jobs
from tests.integration.outbox_rows import take_outbox

SOURCE = {"source": "s3", "bucket": "intake", "key": "x.csv"}


async def _job(pool) -> jobs.JobRow:
    row, outgoing = await jobs.create(pool, source=SOURCE, options={"step": 10})
    [queued] = await take_outbox(pool, row.id)
    assert (queued["stage"], queued["body"]["job_id"]) == ("jobs", str(row.id))
    assert outgoing.message_id == queued["message_id"] == f"{row.id}:jobs"
    return row


async def test_one_worker_holds_a_job_and_only_it_records_the_result(pool) -> None:
    job = await _job(pool)

    first = await jobs.claim(pool, job.id, lease_seconds=60)
    assert first is not None and (first.status, first.attempts) == ("running", 1)
    assert await jobs.claim(pool, job.id, lease_seconds=60) is None  # held
    async with pool.connection() as conn:  # the first worker's lease runs out
        await conn.execute("UPDATE jobs SET lease_until = now() - interval '1 s'"
                           " WHERE id = %s", (job.id,))
    second = await jobs.claim(pool, job.id, lease_seconds=60)
    assert second is not None and second.attempts == 2

    assert not await jobs.progress(pool, first, bytes_done=10, rows_done=1,
                                   bytes_total=100, lease_seconds=60)
    assert await jobs.succeed(pool, first, {"rows": 1}, bytes_done=100,
                              bytes_total=100) is None  # the first lost its claim
    assert await jobs.progress(pool, second, bytes_done=50, rows_done=5, bytes_total=100,
                               lease_seconds=60)
    done = await jobs.succeed(pool, second, {"rows": 9, "columns": {"10": "1.5"}},
                              bytes_done=100, bytes_total=100)
    assert done is not None and done.status == "succeeded"
    assert (done.result, done.rows_done, done.bytes_done) == (
        {"rows": 9, "columns": {"10": "1.5"}}, 9, 100)
    assert await jobs.claim(pool, job.id, lease_seconds=60) is None  # finished


async def test_a_failed_attempt_is_queued_again_until_the_attempts_are_used_up(pool) -> None:
    job = await _job(pool)
    for attempt in (1, 2):
        running = await jobs.claim(pool, job.id, lease_seconds=60)
        assert running is not None and running.attempts == attempt
        row = await jobs.release(pool, running, error="storage unreachable", permanent=False,
                                 max_attempts=2, retry=jobs.requested(job.id, delay=5))
        assert row is not None
        rows = await take_outbox(pool, job.id)
        if attempt == 1:
            assert (row.status, row.error) == ("queued", "storage unreachable")
            [retry] = rows
            assert retry["delay"] is not None and 4 < retry["delay"] < 6
        else:
            assert row.status == "failed" and row.finished_at is not None and rows == []


async def test_a_permanent_error_fails_the_job_at_once(pool) -> None:
    job = await _job(pool)
    running = await jobs.claim(pool, job.id, lease_seconds=60)
    row = await jobs.release(pool, running, error="no object 'x.csv'", permanent=True,
                             max_attempts=5, retry=jobs.requested(job.id, delay=1))
    assert row.status == "failed" and await take_outbox(pool, job.id) == []


async def test_the_reconciler_sends_again_a_job_whose_worker_died(pool) -> None:
    job = await _job(pool)
    await jobs.claim(pool, job.id, lease_seconds=60)
    assert job.id not in [o.message.job_id for o in await jobs.redrive_stalled(
        pool, idle_seconds=600)]
    async with pool.connection() as conn:
        await conn.execute("UPDATE jobs SET lease_until = now() - interval '1 s'"
                           " WHERE id = %s", (job.id,))

    again = await jobs.redrive_stalled(pool, idle_seconds=600)

    assert job.id in [outgoing.message.job_id for outgoing in again]
    assert [row["message_id"] for row in await take_outbox(pool, job.id)] == [f"{job.id}:jobs"]
