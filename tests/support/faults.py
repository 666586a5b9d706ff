"""A TCP proxy for fault tests: in front of the shared PostgreSQL, it passes, refuses or
black-holes connections, so a test can take "the database" away without touching the server.

Everything listens on 127.0.0.1; the proxy's thread and every connection it holds end with
:meth:`TcpProxy.stop` (a context manager does it).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Literal

from sqlalchemy import make_url

Mode = Literal["pass", "refuse", "blackhole"]
STEP = 0.05


class TcpProxy:
    """A TCP forwarder on a free loopback port.

    Modes:
        ``pass``: forwards both ways.
        ``refuse``: closes every connection, new and open, at once.
        ``blackhole``: accepts new connections and never answers them; holds the data of
            open ones (the kernel still acknowledges it: a silent peer, not a dead link).

    Args:
        host: where to forward to.
        port: its port.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode: Mode = "pass"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def start(self) -> TcpProxy:
        """Listen, and serve in a background thread."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def set(self, mode: Mode) -> None:
        """Change the mode; ``refuse`` also closes the connections that are open."""
        self.mode = mode
        if mode == "refuse":
            asyncio.run_coroutine_threadsafe(self._close_all(), self._loop).result(timeout=10)

    def stop(self) -> None:
        """Close every connection and the listener; end the thread."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            await self._close_all()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    async def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode == "refuse":
            writer.close()
            return
        if self.mode == "blackhole":
            return  # held open, never answered, until `stop`
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                while self.mode == "blackhole":
                    await asyncio.sleep(STEP)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@contextlib.contextmanager
def proxy_to(database_url: str) -> Iterator[TcpProxy]:
    """A started `TcpProxy` to the server of ``database_url``, stopped at the end."""
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        yield proxy
    finally:
        proxy.stop()
