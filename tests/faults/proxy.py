"""A TCP fault proxy for tests: put it between a service and a server, then break the link.

Runs its own event loop in a thread (``tests/loop_servers.py``): ``cut_after(n)``
closes the first connection that receives n bytes from the server, ``drop()`` closes every
open connection, ``refuse()`` / ``accept()`` toggle new connections, ``latency`` delays
each chunk in both directions. ``open_now``, ``most_open`` and ``most_open_for`` count
the connections forwarded at once: what a partner that caps its sessions would see.
"""

import asyncio
import contextlib
import time

from tests.loop_servers import LoopServer


class FaultProxy(LoopServer):
    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__()
        self.target = (target_host, target_port)
        self.latency = 0.0
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self._spans: list[list[float]] = []  # [opened, closed] of every connection
        self._cut_after: int | None = None
        self.cuts = 0
        self.bytes_up = 0  # client to server
        self.bytes_down = 0
        self._refusing = False

    # Controls -----------------------------------------------------------------------------

    def cut_after(self, nbytes: int | None) -> None:
        """Close the first connection that receives ``nbytes`` from the server, once."""
        self._cut_after = nbytes

    def refuse(self) -> None:
        self._refusing = True

    def accept(self) -> None:
        self._refusing = False

    def drop(self) -> None:
        self._call(self._close_connections)

    def most_open_for(self, seconds: float) -> int:
        """The most connections that were open together for ``seconds`` on end.

        ``most_open`` counts at single instants, and this loop notices one connection's end
        a few iterations after its client closed it: on a busy machine a session the client
        had closed can still be counted when the next one opens. A partner's cap broken
        for real lasts a transfer, not those milliseconds.
        """
        now = time.monotonic()
        edges = sorted([(span[0], 1) for span in self._spans]
                       + [(span[1] if len(span) > 1 else now, -1) for span in self._spans],
                       key=lambda edge: (edge[0], edge[1]))
        segments, count = [], 0
        for (at, step), (until, _) in zip(edges, [*edges[1:], (now, 0)], strict=True):
            count += step
            segments.append((until - at, count))
        for level in range(self.most_open, 0, -1):
            stretch = 0.0
            for length, open_then in segments:
                stretch = stretch + length if open_then >= level else 0.0
                if stretch >= seconds:
                    return level
        return 0

    # Forwarding ---------------------------------------------------------------------------

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        if self._refusing:
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        if self._closing:  # accepted while shutting down, after the rest were closed
            for writer in (client_w, server_w):
                writer.close()
            return
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        span = [time.monotonic()]
        self._spans.append(span)
        self._writers |= {client_w, server_w}
        pipes = {asyncio.ensure_future(self._pipe(client_r, server_w, cuttable=False)),
                 asyncio.ensure_future(self._pipe(server_r, client_w, cuttable=True))}
        try:
            # Over once either side closes, as the client and a counting server see it,
            # not once the other side has finished closing too.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.open_now -= 1
            span.append(time.monotonic())
        await asyncio.gather(*pipes, return_exceptions=True)
        for writer in (client_w, server_w):
            writer.close()
            self._writers.discard(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                    cuttable: bool) -> None:
        sent = 0
        try:
            while data := await reader.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                limit = self._cut_after if cuttable else None
                if limit is not None and sent + len(data) >= limit:
                    self._cut_after = None
                    self.cuts += 1
                    writer.write(data[: max(limit - sent, 0)])
                    await writer.drain()
                    break
                writer.write(data)
                await writer.drain()
                sent += len(data)
                if cuttable:
                    self.bytes_down += len(data)
                else:
                    self.bytes_up += len(data)
        finally:
            with contextlib.suppress(Exception):
                writer.close()
