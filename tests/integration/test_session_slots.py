"""The per-partner session cap against real PostgreSQL and sshd: the ``session_slots``
table (claims up to the cap, refused beyond it, a crashed holder's slots back when their
lease runs out, a lowered cap, the oldest waiter first), and the pools of several
processes that share it."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from infra.postgres import Pool
from infra.sftp.pool import NoSessionSlot, SessionPool
from infra.sftp.slots import ServerGone, SessionSlots
from tests.harness import sftp_target
from tests.servers import SftpServer

AddServer = Callable[..., Awaitable[int]]


@pytest.fixture
async def add_server(pool: Pool, sftp_server: SftpServer) -> AsyncIterator[AddServer]:
    """``await add_server(cap)``: a (disabled) server row capped at ``cap`` sessions."""
    ids: list[int] = []

    async def add(cap: int) -> int:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO servers (name, host, port, username, max_connections, enabled)"
                " VALUES (%s, %s, %s, %s, %s, false) RETURNING id",
                (f"slots-{uuid.uuid4().hex[:8]}", sftp_server.host, sftp_server.port,
                 sftp_server.username, cap))
            row = await cur.fetchone()
        assert row is not None
        ids.append(row["id"])
        return row["id"]

    yield add
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM servers WHERE id = ANY(%s)", (ids,))


def process(pool: Pool, lease_seconds: float = 30) -> SessionSlots:
    """The slots of one (simulated) process."""
    return SessionSlots(pool, lease_seconds=lease_seconds)


def waiter() -> str:
    return uuid.uuid4().hex


async def holders(pool: Pool, server_id: int) -> list[str]:
    """The holders of the server's live slots."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT holder FROM session_slots WHERE server_id = %s AND lease_until > now()"
            " ORDER BY slot", (server_id,))
        return [row["holder"] for row in await cur.fetchall()]


async def eventually(condition: Callable[[], Awaitable[object]], *, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while not (result := await condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
    return result


# The table ---------------------------------------------------------------------------------

async def test_claims_stop_at_the_cap_and_a_release_frees_one(pool, add_server):
    server = await add_server(2)
    a, b = process(pool), process(pool)
    assert await a.claim(server, waiter()) == 1
    assert await b.claim(server, waiter()) == 2
    wait = waiter()
    assert await b.claim(server, wait) is None
    assert await holders(pool, server) == [a.holder, b.holder]

    await a.release(server, 1)
    assert await b.claim(server, wait) == 1
    assert await holders(pool, server) == [b.holder, b.holder]


async def test_concurrent_claims_never_exceed_the_cap(pool, add_server):
    server = await add_server(3)
    claims = await asyncio.gather(*(process(pool).claim(server, waiter()) for _ in range(12)))
    assert sorted(slot for slot in claims if slot is not None) == [1, 2, 3]


async def test_a_crashed_holders_slot_comes_back_when_its_lease_runs_out(pool, add_server):
    server = await add_server(1)
    crashed, other = process(pool, lease_seconds=1), process(pool)
    assert await crashed.claim(server, waiter()) == 1
    started = time.monotonic()
    wait = waiter()
    assert await other.claim(server, wait) is None  # taken until the lease ends

    assert await eventually(lambda: other.claim(server, wait), timeout=10) == 1
    assert time.monotonic() - started >= 0.5
    # The crashed process, back, finds its slot gone rather than renewing it.
    assert await crashed.renew() == set()
    assert await holders(pool, server) == [other.holder]


async def test_a_renewed_lease_outlives_its_first_term(pool, add_server):
    server = await add_server(1)
    # A 2 s lease renewed every 0.3 s: over twice its term, with room for a busy machine.
    holder, other = process(pool, lease_seconds=2), process(pool)
    assert await holder.claim(server, waiter()) == 1
    until = time.monotonic() + 4.5
    while time.monotonic() < until:
        assert await holder.renew() == {(server, 1)}
        assert await other.claim(server, waiter()) is None
        await asyncio.sleep(0.3)  # a third of the lease, as the pool renews


async def test_a_lowered_cap_takes_effect_as_slots_are_released(pool, add_server):
    server = await add_server(3)
    a, b = process(pool), process(pool)
    assert [await a.claim(server, waiter()) for _ in range(3)] == [1, 2, 3]
    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET max_connections = 1 WHERE id = %s", (server,))

    wait = waiter()
    await a.release(server, 1)
    assert await b.claim(server, wait) is None  # two still open, above the new cap
    await a.release(server, 3)
    assert await b.claim(server, wait) is None
    await a.release(server, 2)
    assert await b.claim(server, wait) == 1


async def test_a_free_slot_goes_to_the_oldest_waiter(pool, add_server):
    server = await add_server(1)
    holder, first, second = process(pool), process(pool), process(pool)
    first_wait, second_wait = waiter(), waiter()
    assert await holder.claim(server, waiter()) == 1
    assert await first.claim(server, first_wait) is None
    assert await second.claim(server, second_wait) is None
    assert await holder.waited_for([server]) == {server}

    await holder.release(server, 1)
    assert await holder.claim(server, waiter()) is None  # a newcomer comes after them
    assert await second.claim(server, second_wait) is None
    assert await first.claim(server, first_wait) == 1
    await first.release(server, 1)
    assert await second.claim(server, second_wait) == 1
    assert await holder.waited_for([server]) == set()


async def test_a_server_that_is_gone_has_no_slots(pool):
    with pytest.raises(ServerGone):
        await process(pool).claim(2**31 - 1, waiter())


# The pools of several processes ------------------------------------------------------------

def session_pool(pool: Pool, *, idle_seconds: float = 60, wait_seconds: float = 30,
                 ) -> SessionPool:
    return SessionPool(process(pool), connect_timeout=10, io_timeout=10,
                       idle_seconds=idle_seconds, wait_seconds=wait_seconds)


@pytest.fixture
async def pools(pool: Pool) -> AsyncIterator[Callable[..., SessionPool]]:
    """``pools(**options)``: the session pool of one more process, closed at the end."""
    made: list[SessionPool] = []

    def make(**options: float) -> SessionPool:
        made.append(session_pool(pool, **options))
        return made[-1]

    yield make
    for sessions in made:
        await sessions.close()


async def list_home(sessions: SessionPool, server: int, sftp_server: SftpServer) -> None:
    async with sessions.slot(server) as slot, slot.session(sftp_target(sftp_server)) as session:
        await asyncio.to_thread(session.client.listdir, ".")


async def test_a_returned_session_is_kept_with_its_slot(pool, add_server, pools, sftp_server):
    server = await add_server(4)
    sessions = pools()
    for _ in range(10):
        await list_home(sessions, server, sftp_server)
    assert sessions.opened == 1
    assert len(await holders(pool, server)) == 1  # the idle session holds its slot


async def test_sessions_of_three_processes_never_exceed_the_cap(pool, add_server, pools,
                                                                sftp_server):
    server = await add_server(2)
    replicas = [pools() for _ in range(3)]
    active, peak = 0, 0
    two_inside = asyncio.Event()

    async def work(sessions: SessionPool) -> None:
        nonlocal active, peak
        for _ in range(3):
            async with (sessions.slot(server) as slot,
                        slot.session(sftp_target(sftp_server)) as session):
                active += 1
                peak = max(peak, active)
                if active == 2:
                    two_inside.set()
                await asyncio.to_thread(session.client.listdir, ".")
                # Hold on until a second session is in: both must be let in at once.
                await asyncio.wait_for(two_inside.wait(), timeout=10)
                active -= 1

    await asyncio.wait_for(asyncio.gather(*(work(s) for s in replicas for _ in range(2))),
                           timeout=120)
    assert peak == 2
    assert len(await holders(pool, server)) <= 2


async def test_an_idle_session_is_given_back_when_another_process_waits(
        pool, add_server, pools, sftp_server):
    server = await add_server(1)
    done, waiting = pools(idle_seconds=600), pools()
    await list_home(done, server, sftp_server)
    assert await holders(pool, server) == [done.holder]

    wants = asyncio.ensure_future(list_home(waiting, server, sftp_server))
    started = time.monotonic()
    while not wants.done():  # the replica that is done tends its pool, as it does each second
        await done.tend()
        await asyncio.wait([wants], timeout=0.2)
        assert time.monotonic() - started < 20, "the idle session kept its slot"
    await wants
    assert await holders(pool, server) == [waiting.holder]


async def test_an_idle_session_is_closed_after_its_idle_time(pool, add_server, pools,
                                                            sftp_server):
    server = await add_server(1)
    sessions = pools(idle_seconds=0.5)
    await list_home(sessions, server, sftp_server)
    assert len(await holders(pool, server)) == 1

    async def gone() -> bool:
        await sessions.tend()
        return not await holders(pool, server)

    await eventually(gone, timeout=10)


async def test_no_free_slot_within_the_wait_is_no_session_slot(pool, add_server, pools,
                                                               sftp_server):
    server = await add_server(1)
    busy, late = pools(), pools(wait_seconds=1)
    async with busy.slot(server):
        started = time.monotonic()
        with pytest.raises(NoSessionSlot):
            async with late.slot(server):
                pass
        assert time.monotonic() - started >= 1
    async with pool.connection() as conn:  # it no longer waits: nobody gives way to it
        cur = await conn.execute(
            "SELECT count(*) AS n FROM session_slot_waiters WHERE server_id = %s", (server,))
        assert (await cur.fetchone())["n"] == 0


async def test_a_session_returned_goes_to_a_borrower_of_the_same_process_waiting(
        pool, add_server, pools, sftp_server):
    server = await add_server(1)
    sessions = pools()
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with sessions.slot(server) as slot, slot.session(sftp_target(sftp_server)):
            first_in.set()
            await release.wait()

    holding = asyncio.ensure_future(first())
    await asyncio.wait_for(first_in.wait(), timeout=10)
    second = asyncio.ensure_future(list_home(sessions, server, sftp_server))
    await asyncio.wait([second], timeout=0.5)
    assert not second.done()  # the only slot is taken
    release.set()
    await asyncio.wait_for(asyncio.gather(holding, second), timeout=10)
    assert sessions.opened == 1  # handed over, not closed and opened again


async def test_a_session_whose_slot_expired_is_closed_not_kept(pool, add_server, sftp_server):
    server = await add_server(1)
    # The database out of reach for a whole lease: this process could not renew in time.
    cut_off = SessionPool(process(pool, lease_seconds=1), connect_timeout=10, io_timeout=10,
                          idle_seconds=600, wait_seconds=30)
    other = process(pool)
    try:
        await list_home(cut_off, server, sftp_server)
        wait = waiter()
        assert await eventually(lambda: other.claim(server, wait), timeout=10) == 1

        await cut_off.tend()  # its renewal finds the slot gone

        assert await holders(pool, server) == [other.holder]
        await other.release(server, 1)
        await list_home(cut_off, server, sftp_server)  # on a slot of its own again
        assert cut_off.opened == 2
    finally:
        await cut_off.close()
