"""A TCP server for tests on an event loop of its own, in a thread, so that synchronous
tests can start it, drive it and stop it (``tests/faults/proxy.py``, ``tests/tarpit.py``).

A subclass handles each connection (``_handle``) and keeps the writers of those it holds
open in ``_writers``: stopping closes them, then waits for the handlers to end (not
cancelled: asyncio's stream server logs a cancelled connection handler as an error).
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Self


class LoopServer:
    def __init__(self) -> None:
        self.port = 0
        self._closing = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def _call(self, fn: Callable[[], Awaitable[None]]) -> None:
        asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    async def _close_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _shutdown(self) -> None:
        self._closing = True
        self._server.close()
        await self._close_connections()
        # Their sockets are closed: the handlers still running (asleep in a latency, say)
        # end here, not with the loop as pending tasks.
        if handlers := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            await asyncio.wait(handlers, timeout=5)
        await self._server.wait_closed()
