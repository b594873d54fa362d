"""A stage subscribed with a prefetch of its own takes at most that many messages at once,
even though every queue was declared on the broker's channel first (declare_topology)."""

import asyncio
import uuid

from contracts import JobRequested, Stage, Topology
from infra.broker import StagePublisher, create_broker, declare_topology, stage_router


async def test_a_stage_s_own_prefetch_holds_after_the_topology_was_declared(
        amqp_url: str, amqp_prefix: str) -> None:
    topology = Topology(f"{amqp_prefix}.prefetch")  # removed with the run's names
    broker = create_broker(amqp_url, prefetch=4)
    running, peak, handled, done = 0, 0, 0, asyncio.Event()

    async def handle(msg: JobRequested) -> None:
        nonlocal running, peak, handled
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        handled += 1
        if handled == 4:
            done.set()

    broker.include_router(stage_router(topology, {Stage.JOBS: handle},
                                       prefetch={Stage.JOBS: 1}))
    async with broker:
        await broker.connect()
        await declare_topology(broker, topology)
        await broker.start()
        publisher = StagePublisher(broker, topology)
        for n in range(4):
            await publisher.send(Stage.JOBS, JobRequested(job_id=uuid.uuid4()),
                                 message_id=str(n))
        await asyncio.wait_for(done.wait(), timeout=30)

    assert peak == 1
