"""A hostile partner at the TCP level: it accepts connections and then stalls them.

``Tarpit()`` says nothing at all; ``Tarpit(drip_seconds=s)`` sends an SSH banner that never
ends, one byte every ``s`` seconds, which keeps an SSH client's banner read timeout from
firing. Runs its own event loop in a thread, as ``tests/faults/proxy.py`` does. ``accepted``
counts connections, ``open`` those the client has not closed yet, ``received`` the bytes
clients sent (an SSH client sends its own banner first).
"""

import asyncio
import contextlib
import itertools
import threading


class Tarpit:
    def __init__(self, drip_seconds: float | None = None) -> None:
        self.drip_seconds = drip_seconds
        self.accepted = 0
        self.open = 0
        self.received = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> "Tarpit":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        if handlers := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            await asyncio.wait(handlers, timeout=5)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self._writers.add(writer)
        closed = asyncio.ensure_future(self._read_until_closed(reader))
        try:
            banner = itertools.cycle(b"SSH-2.0-")  # no line end, ever
            while not closed.done():
                if self.drip_seconds is not None:
                    writer.write(bytes([next(banner)]))
                    await writer.drain()
                await asyncio.wait([closed], timeout=self.drip_seconds)
        except ConnectionError:
            pass
        finally:
            await closed
            self.open -= 1
            self._writers.discard(writer)
            writer.close()


    async def _read_until_closed(self, reader: asyncio.StreamReader) -> None:
        """Count and ignore whatever the client sends, until it closes."""
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                self.received += len(chunk)
