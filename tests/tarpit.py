"""A hostile partner at the TCP level: it accepts connections and then stalls them.

``Tarpit()`` says nothing at all; ``Tarpit(drip_seconds=s)`` sends an SSH banner that never
ends, one byte every ``s`` seconds, which keeps an SSH client's banner read timeout from
firing. Runs its own event loop in a thread (``tests/loop_servers.py``). ``accepted``
counts connections, ``open`` those the client has not closed yet, ``received`` the bytes
clients sent (an SSH client sends its own banner first).
"""

import asyncio
import contextlib
import itertools

from tests.loop_servers import LoopServer


class Tarpit(LoopServer):
    def __init__(self, drip_seconds: float | None = None) -> None:
        super().__init__()
        self.drip_seconds = drip_seconds
        self.accepted = 0
        self.open = 0
        self.received = 0

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
