"""Committed changes to a group of tables, as PostgreSQL announces them (LISTEN/NOTIFY).

Triggers on the tables (migration 0010) run ``pg_notify`` on a channel in the writing
transaction; PostgreSQL delivers the notification to every listening connection once that
transaction commits. `Changes` listens on one connection of its own, read by the event loop,
and counts what it hears in a *generation*: a value read from the tables and kept while the
generation stays the same is what the tables hold.

A notification travels on its own: the writer may learn of its commit, and send the next
request, before a listener heard of it. So a kept value is used only after a *barrier*
(`Changes.barrier`): a heartbeat (``SELECT pg_backend_pid()``) sent on the listening
connection after the request arrived. Before a commit is acknowledged to its writer,
PostgreSQL has signalled every listening backend, and a backend sends its client the
notifications it was signalled for before it answers the next statement. So once the
heartbeat's answer is in, every change committed before the request arrived has been counted:
the very next request after a change sees it, on every replica. Requests that arrive while a
heartbeat is on its way share the next one: one round trip for all of them, on the event loop,
no worker thread. The answer must name the backend that ran LISTEN: behind a pooler that hands
out server connections per transaction, nothing is kept.

It fails closed: `barrier` gives ``None`` — keep nothing, read the database — until LISTEN
took, after the connection fails (a reconnection starts a new generation: what was said in
between is lost), when the heartbeat is not answered within `BARRIER_TIMEOUT` (the connection
is then dropped), and after `close`.

Example:
    ::

        changes = Changes.for_engine(engine, STANDING_CHANNEL)
        await changes.start()
        generation = await changes.barrier()  # None: read the database
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any

import anyio.to_thread
import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine

__all__ = ["BARRIER_TIMEOUT", "STANDING_CHANNEL", "Changes"]

log = logging.getLogger("steward.store")

STANDING_CHANNEL = "steward_standing"
"""Announces a committed change to what a token's standing is read from (revoked tokens,
clients, partners, trusted-documents-only clients, customers' subjects)."""
BARRIER_TIMEOUT = 0.5
"""Seconds a heartbeat may take: past them the connection is dropped and its barriers give
``None``."""
RETRY = 1.0
"""Seconds between attempts to connect while the connection is down."""

_Result = int | None
_BACKEND = b"SELECT pg_backend_pid()"
"""The heartbeat: its answer must name the backend that listens."""


class Changes:
    """Counts the notifications of one channel on a connection of its own, on an event loop.

    Args:
        conninfo: how to connect (libpq's connection string).
        channel: the channel to listen on.
    """

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self._listen = f'LISTEN "{channel}"'.encode()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: pq.abc.PGconn | None = None
        self._backend: bytes | None = None
        self._generation = 0
        # Who waits for the heartbeat on its way, and who for the next one; the former's
        # deadline.
        self._waiting: list[asyncio.Future[_Result]] | None = None
        self._next: list[asyncio.Future[_Result]] = []
        self._deadline: asyncio.TimerHandle | None = None
        self._attempted_at = -math.inf
        self._connecting = False
        self._closed = False

    @classmethod
    def for_engine(cls, engine: Engine, channel: str, *, timeout: float = 2.0) -> Changes | None:
        """A listener on ``engine``'s database, or ``None`` where it cannot listen (SQLite,
        or a driver other than psycopg)."""
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
            return None
        _args, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # the dialect's type adapters: not a connection option
        conninfo = make_conninfo(
            "",
            **params,
            connect_timeout=max(2, math.ceil(timeout)),
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=1,
            keepalives_count=3,
            application_name="steward listener",
        )
        return cls(conninfo, channel)

    async def start(self) -> None:
        """Listen from now on, for the running event loop (at startup: the first requests
        then find a connection); a failure is logged and retried by `barrier`."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed or self._connecting or self._connection is not None:
                return
            self._loop = loop
            self._connecting = True
            self._attempted_at = time.monotonic()
        self._attach(await anyio.to_thread.run_sync(self._connect))

    def generation(self) -> int | None:
        """The changes counted so far (from any thread, without waiting), or ``None`` while not
        listening: what a value read *after* this call may be kept under."""
        return self._generation if self._connection is not None else None

    async def barrier(self) -> int | None:
        """The generation once every change committed before this call has been counted, or
        ``None`` when that cannot be known (read the database).

        Called on the event loop the connection was attached to (another loop gets ``None``).
        """
        loop = asyncio.get_running_loop()
        if self._connection is None or self._loop is not loop:
            self._connect_soon(loop)
            return None
        future: asyncio.Future[_Result] = loop.create_future()
        if self._waiting is None:
            self._waiting = [future]
            self._heartbeat()
        else:
            # The heartbeat on its way was sent before this call: wait for the next one.
            self._next.append(future)
        return await future

    def close(self) -> None:
        """Stop listening; `barrier` gives ``None`` from now on."""
        with self._lock:
            self._closed = True
        self._drop(None)

    def _heartbeat(self) -> None:
        """Send the heartbeat for those `_waiting`, with its deadline (a failure, or no answer
        by the deadline, drops the connection)."""
        connection, loop = self._connection, self._loop
        if connection is None or loop is None:
            return
        try:
            connection.send_query(_BACKEND)
            connection.flush()
        except psycopg.Error as error:
            self._drop(_cause(error))
            return
        self._deadline = loop.call_later(BARRIER_TIMEOUT, self._drop, "no answer in time")

    def _readable(self) -> None:
        """The connection's socket has data: count notifications, take a heartbeat's answer."""
        connection = self._connection
        if connection is None:
            return
        try:
            connection.flush()
            connection.consume_input()
            answered = self._waiting is not None and not connection.is_busy()
            if answered:
                while (result := connection.get_result()) is not None:
                    if result.status != pq.ExecStatus.TUPLES_OK:
                        raise psycopg.OperationalError("the heartbeat failed")
                    if result.get_value(0, 0) != self._backend:
                        # A pooler in transaction mode hands out another server connection,
                        # which does not listen: nothing said reaches this one.
                        raise psycopg.OperationalError("the heartbeat came from another backend")
            while connection.notifies() is not None:
                self._generation += 1
        except psycopg.Error as error:
            self._drop(_cause(error))
            return
        if answered:
            if self._deadline is not None:
                self._deadline.cancel()
            _settle(self._waiting or [], self._generation)
            self._waiting, self._next = self._next or None, []
            if self._waiting is not None:
                self._heartbeat()

    def _attach(self, connected: tuple[pq.abc.PGconn, bytes] | None) -> None:
        """Start reading a connection and its backend on this loop (``None``: the attempt
        failed)."""
        with self._lock:
            self._connecting = False
            closed = self._closed
        if connected is None:
            return
        connection, self._backend = connected
        if closed or self._loop is None:
            connection.finish()
            return
        # What was said while no connection listened is lost: start a new generation.
        self._generation += 1
        self._connection = connection
        self._loop.add_reader(connection.socket, self._readable)

    def _drop(self, cause: str | None) -> None:
        """Forget the connection (``cause``: why, logged); waiting barriers get ``None``."""
        connection, self._connection = self._connection, None
        if connection is not None:
            if cause is not None:
                log.info("the database listener stopped (%s); standings are read again", cause)
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.remove_reader(connection.socket)
            connection.finish()
            self._generation += 1
        if self._deadline is not None:
            self._deadline.cancel()
        _settle([*(self._waiting or []), *self._next], None)
        self._waiting, self._next, self._deadline = None, [], None

    def _connect_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect in a thread of its own, at most once per `RETRY` seconds, for ``loop``."""
        now = time.monotonic()
        with self._lock:
            if self._closed or self._connecting or now - self._attempted_at < RETRY:
                return
            if self._connection is not None and self._loop is not loop:
                return  # attached to another loop, which still reads it
            self._connecting = True
            self._attempted_at = now
            self._loop = loop

        def connect() -> None:
            connected = self._connect()
            try:
                loop.call_soon_threadsafe(self._attach, connected)
            except RuntimeError:  # the loop closed meanwhile
                if connected is not None:
                    connected[0].finish()

        threading.Thread(target=connect, name="steward-listener", daemon=True).start()

    def _connect(self) -> tuple[pq.abc.PGconn, bytes] | None:
        """A connection that listens and its backend's process id, or ``None`` (logged)."""
        connection: pq.abc.PGconn | None = None
        try:
            connection = pq.PGconn.connect(self._conninfo.encode())
            if connection.status != pq.ConnStatus.OK:
                raise psycopg.OperationalError(connection.get_error_message())
            result = connection.exec_(self._listen)
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise psycopg.OperationalError(connection.get_error_message())
            result = connection.exec_(_BACKEND)
            backend = result.get_value(0, 0) if result.status == pq.ExecStatus.TUPLES_OK else None
            if backend is None:
                raise psycopg.OperationalError(connection.get_error_message())
            connection.nonblocking = 1
        except psycopg.Error as error:
            log.info("cannot listen on the database (%s); standings are read", _cause(error))
            if connection is not None:
                connection.finish()
            return None
        return connection, backend


def _settle(waiting: list[asyncio.Future[_Result]], result: _Result) -> None:
    """Give ``result`` to each future still waiting (a cancelled request's is done)."""
    for future in waiting:
        if not future.done():
            future.set_result(result)


def _cause(error: Any) -> str:
    """The error's class and the first line of its message (no parameters: none are sent)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
