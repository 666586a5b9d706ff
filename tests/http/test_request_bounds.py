"""Bounds: memory by bytes, the body read only after the token, slow clients dropped (408)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from graphql import GraphQLError
from starlette.types import Receive, Scope, Send

from api.edge import Edge
from api.errors import RequestTimeout
from api.request_bounds import (
    BODY_ARRIVED,
    HEAD_BOUNDED,
    MAX_HEADER_LINES,
    WRITTEN_AGAINST,
    HttpProtocol,
    _timeout,
)
from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from schema.build import build_schema
from schema.documents import Document, Documents, Limits
from store.database import upgrade
from tests.support.auth import TokenFactory
from tests.support.servers import Server, running, served, server_env

MIB = 1024 * 1024
READER = "customers:read purpose:customer_support"
PROBE = "query Probe { customers(first: 1) { totalCount } }"
SOCKET_WAIT = 10.0
"""Seconds a test waits for the server to answer a raw socket (the timeouts here are 1 s)."""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"request_read_timeout": 1.0})


def test_the_document_cache_is_bounded_by_bytes_failures_included() -> None:
    # given a cache of 1 MiB of source text
    documents = Documents(
        build_schema()._schema, Limits(depth=10, aliases=30, tokens=5000, introspection=True), MIB
    )
    # when it sees a stream of distinct 100 KB documents, valid and not
    for number in range(40):
        padding = "#" + "x" * 100_000 + "\n"
        valid = documents.get(f"{padding}query Q{number} {{ __typename }}")
        broken = documents.get(f"!{number} " + "x" * 100_000)
        assert isinstance(valid, Document)
        assert isinstance(broken, GraphQLError)
        # then what it holds never exceeds its bound
        assert documents.size <= MIB
    # and a document larger than the whole bound is answered but never kept
    assert isinstance(documents.get("!" + "x" * 2 * MIB), GraphQLError)
    assert documents.size <= MIB
    # and a recent document is still there: parsed once
    recent = "#" + "x" * 100_000 + "\nquery Q39 { __typename }"
    assert documents.get(recent) is documents.get(recent)


@pytest.mark.slow
def test_a_worker_serving_distinct_large_documents_stays_within_200_mib_of_its_idle_rss(
    tmp_path: Path,
) -> None:
    # given a real server, authenticated, and its resident memory once it has served a request
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    key_file = tmp_path / "keys.json"
    env = server_env(database_url=url, key_file=str(key_file), public_url="https://steward.test")
    server = Server(env, tmp_path)
    with running(server), httpx.Client(timeout=30) as client:
        token = _token(key_file, url)
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"}
        assert client.post(f"{server.url}/graphql", json={"query": PROBE}, headers=headers)
        assert server.process is not None
        idle = _rss(server.process.pid)
        # when it is sent 300 distinct documents of about 1 MB (bounded: about 300 MB in all)
        for number in range(300):
            query = f"!{number} " + "x" * 1_000_000
            response = client.post(f"{server.url}/graphql", json={"query": query}, headers=headers)
            assert response.status_code == 200
            assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        # then its resident memory grew by less than 200 MiB
        grown = _rss(server.process.pid) - idle
    assert grown < 200 * MIB, f"grew by {grown / MIB:.0f} MiB"


def test_distinct_valid_large_documents_keep_a_worker_within_the_cache_budget(
    tmp_path: Path,
) -> None:
    # given a real server with the default cache budget, at its resident memory once it has
    # served a request
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    key_file = tmp_path / "keys.json"
    env = server_env(database_url=url, key_file=str(key_file), public_url="https://steward.test")
    server = Server(env, tmp_path)
    with running(server), httpx.Client(timeout=30) as client:
        token = _token(key_file, url)
        headers = {"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"}
        assert client.post(f"{server.url}/graphql", json={"query": PROBE}, headers=headers)
        assert server.process is not None
        idle = _rss(server.process.pid)
        bound = Settings().document_cache_bytes + 50 * MIB
        # when it is sent distinct valid documents of about 1 MB, each answered (compiled)
        for number in range(80):
            query = "#" + "x" * 1_000_000 + f"\nquery Q{number} {{ customers {{ totalCount }} }}"
            response = client.post(f"{server.url}/graphql", json={"query": query}, headers=headers)
            assert response.status_code == 200
            assert response.json()["data"]["customers"]["totalCount"] == 0
            # then after 40 of them, and after twice as many, its resident memory has grown
            # by less than the budget and 50 MiB
            if number + 1 in (40, 80):
                grown = _rss(server.process.pid) - idle
                assert grown < bound, f"grew by {grown / MIB:.0f} MiB after {number + 1}"


def test_what_is_kept_on_a_document_counts_in_the_budget_and_leaves_with_it() -> None:
    # given a cache of 1 MiB, and a document of 100 KB in it with a statement kept on it
    documents = Documents(
        build_schema()._schema, Limits(depth=10, aliases=30, tokens=5000, introspection=True), MIB
    )
    first = "#" + "x" * 100_000 + "\nquery Q0 { __typename }"
    document = documents.get(first)
    assert isinstance(document, Document)
    before = documents.size
    # (its comment is not kept beside its source: the tree holds only what execution uses)
    assert before < 2 * 100_000
    assert document.keep("statement", "SELECT 1", 300_000)
    # then the cache counts it
    assert documents.size == before + 300_000
    assert document.derived == {"statement": "SELECT 1"}
    # when other documents push the first one out
    for number in range(1, 10):
        documents.get("#" + "x" * 100_000 + f"\nquery Q{number} {{ __typename }}")
        assert documents.size <= MIB
    # then what was kept on it leaves with it, and it keeps nothing more
    assert document.derived == {}
    assert not document.keep("statement", "SELECT 1", 1)
    assert documents.get(first) is not document  # (parsed anew: it had left the cache)


def test_the_body_is_read_only_after_the_token_passed(live_server: str) -> None:
    # given a client that announces a large body and sends none of it, without a token
    with _connect(live_server) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: steward\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n"
        )
        # when it waits / then it is refused at once, the body never awaited
        status, body = _response(sock)
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("path", "authorized"), [("/graphql", True), ("/oauth/token", False)], ids=["graphql", "token"]
)
def test_a_body_slower_than_the_read_timeout_is_dropped_with_408(
    live_server: str, token: TokenFactory, path: str, authorized: bool
) -> None:
    # given a caller whose body arrives too slowly (the read timeout is 1 s here)
    content_type = "application/json" if path == "/graphql" else "application/x-www-form-urlencoded"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    if authorized:
        head += f"Authorization: Bearer {token(READER)}\r\nX-Purpose: customer_support\r\n"
    head += "Content-Length: 100\r\n\r\n"
    with _connect(live_server) as sock:
        sock.sendall(head.encode() + b'{"query": ')
        # when it stalls / then the server answers 408, in the endpoint's shape, and closes
        status, body = _response(sock)
        assert status == 408
        if path == "/graphql":
            assert body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
        else:
            assert body["error"] == "invalid_request"
        assert _closed(sock)


def _reader(seen: list[tuple[bool, bytes | str]]) -> Any:
    """An ASGI app that notes, per request, whether its body had all arrived when it first
    read it, and what it read (or ``"late"``), behind Steward's edge."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        arrived = bool(scope.get(BODY_ARRIVED))
        body = b""
        try:
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        except RequestTimeout:
            seen.append((arrived, "late"))
            raise
        seen.append((arrived, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return Edge(app, routes=["/"], read_timeout=0.5, origins=[])


@pytest.mark.parametrize(
    ("parts", "pause", "seen"),
    [
        ([b'{"query": "{ a }"}'], 0.0, (True, b'{"query": "{ a }"}')),
        ([b'{"query": ', b'"{ a }"}'], 0.2, (False, b'{"query": "{ a }"}')),
        ([b'{"query": ', b'"{ a }"}'], 1.0, (False, "late")),
    ],
    ids=["whole", "in-time", "late"],
)
def test_a_body_that_arrived_whole_is_read_without_a_timer_and_a_slow_one_is_timed(
    parts: list[bytes], pause: float, seen: tuple[bool, bytes | str]
) -> None:
    # given Steward's HTTP protocol and body deadline (0.5 s) around an app that reads bodies
    noted: list[tuple[bool, bytes | str]] = []
    with served(_reader(noted), http=HttpProtocol, lifespan="off") as url, _connect(url) as sock:
        # when a body arrives whole with its head, or in two parts some time apart
        size = sum(map(len, parts))
        sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
        for index, part in enumerate(parts):
            if index:
                time.sleep(pause)
            sock.sendall(part)
        status = int(_head_of(sock).split()[1])
    # then a whole body is read at once, marked as arrived; a split one under the deadline,
    # and a late one not at all
    assert noted == [seen]
    assert status == (500 if seen[1] == "late" else 200)


@pytest.mark.parametrize(("protocol", "counted"), [(HttpProtocol, True), ("httptools", False)])
def test_only_a_head_the_protocol_counted_skips_the_middlewares_count(
    protocol: Any, counted: bool
) -> None:
    # given an app that notes whether the head of its requests was counted by the protocol
    marks: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        marks.append(bool(scope.get(HEAD_BOUNDED)))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    # when a request comes through Steward's protocol, or uvicorn's own
    with served(app, http=protocol, lifespan="off") as url:
        httpx.get(url)
    # then only Steward's marks it (its edge counts the others itself)
    assert marks == [counted]


@pytest.mark.slow
def test_headers_slower_than_the_read_timeout_are_dropped_with_408(tmp_path: Path) -> None:
    # given `steward serve` with a read timeout of 1 s
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    upgrade(url)
    env = server_env(
        database_url=url, key_file=str(tmp_path / "keys.json"), request_read_timeout="1"
    )
    server = Server(env, tmp_path)
    with running(server):
        # when a client begins its headers and stalls
        with _connect(server.url) as sock:
            sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: steward\r\nContent-Type: app")
            # then it gets a GraphQL-shaped 408 and the connection is closed
            status, body = _response(sock)
            assert status == 408
            assert body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
            assert _closed(sock)
        # and a connection that sends nothing at all is closed, without an answer
        with _connect(server.url) as sock:
            assert sock.recv(1024) == b""
        # and a client that sends in time is served on the same server
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


@pytest.mark.slow
def test_the_next_head_on_a_kept_alive_connection_has_the_whole_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given Steward's HTTP protocol with a header timeout of 2 s (one clock per connection,
    # armed when it opened), and a connection that was served one request at once
    monkeypatch.setenv("STEWARD_REQUEST_READ_TIMEOUT", "2")
    _timeout.cache_clear()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    try:
        with served(app, http=HttpProtocol, lifespan="off") as url, _connect(url) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _head_of(sock).split()[1] == b"204"
            # when its next request's head begins 1.2 s later, and stalls
            time.sleep(1.2)
            began = time.monotonic()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            # then nothing comes when the clock armed for the first request runs out (at 2 s)
            sock.settimeout(1.4)
            with pytest.raises(TimeoutError):
                sock.recv(1024)
            # and the head gets its 408 once it has had its own 2 s
            sock.settimeout(SOCKET_WAIT)
            status, body = _response(sock)
            assert status == 408
            assert time.monotonic() - began >= 2.0
            assert body["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
            assert _closed(sock)
    finally:
        _timeout.cache_clear()


@pytest.mark.slow
def test_the_first_heads_clock_starts_with_the_connection_and_stray_line_ends_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given Steward's HTTP protocol with a header timeout of 2 s
    monkeypatch.setenv("STEWARD_REQUEST_READ_TIMEOUT", "2")
    _timeout.cache_clear()
    try:
        with served(_no_content, http=HttpProtocol, lifespan="off") as url:
            # when a connection's first head begins 1.2 s after it opened, and stalls
            with _connect(url) as sock:
                opened = time.monotonic()
                time.sleep(1.2)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                # then it gets its 408 when 2 s have passed since the connection opened
                assert _response(sock)[0] == 408
                assert time.monotonic() - opened < 2.8
            # and when a served connection then sends only a line end, it is not held
            # open: the line end started a head's clock
            with _connect(url) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _head_of(sock).split()[1] == b"204"
                sock.sendall(b"\r\n")
                assert _response(sock)[0] == 408
                assert _closed(sock)
    finally:
        _timeout.cache_clear()


def test_a_flood_of_short_header_lines_in_one_read_is_not_all_kept() -> None:
    # given Steward's HTTP protocol, noting how many headers it kept when it refused a head
    kept: list[int] = []

    class Noted(HttpProtocol):
        def _refuse(self) -> None:
            kept.append(len(self.headers))
            super()._refuse()

    with (
        served(_no_content, http=Noted, lifespan="off") as url,
        _connect(url) as sock,
        contextlib.suppress(OSError),
    ):
        # when a head of 60,000 short lines arrives, most of it in one read
        sock.sendall(b"GET / HTTP/1.1\r\n" + b"a:\r\n" * 60_000 + b"\r\n")
        _head_of(sock)
    # then it was refused holding no more than the lines a head may have
    assert kept == [MAX_HEADER_LINES]


async def _no_content(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_the_http_protocol_is_written_against_this_uvicorn() -> None:
    # `api.request_bounds.HttpProtocol` subclasses uvicorn's httptools protocol: recheck it when
    # uvicorn changes, then move this pin.
    assert uvicorn.__version__.startswith(WRITTEN_AGAINST + ".")


def _head(lines: int, line_bytes: int) -> bytes:
    """A GET of ``/healthz`` with ``lines`` header lines of about ``line_bytes`` bytes each."""
    value = "v" * (line_bytes - 16)
    fields = "".join(f"X-Pad-{number:04d}: {value}\r\n" for number in range(lines - 1))
    return f"GET /healthz HTTP/1.1\r\nHost: steward\r\n{fields}\r\n".encode()


@pytest.fixture(scope="module")
def served_steward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``steward serve`` on a fresh SQLite database, for the tests of raw connections."""
    directory = tmp_path_factory.mktemp("bounds")
    url = f"sqlite:///{directory / 'steward.db'}"
    upgrade(url)
    env = server_env(database_url=url, key_file=str(directory / "keys.json"))
    server = Server(env, directory)
    with running(server):
        yield server


@pytest.mark.parametrize(
    ("lines", "line_bytes", "status"),
    [(100, 600, 200), (101, 100, 431), (70, 1000, 431), (2, 70_000, 431)],
    ids=["within", "101-lines", "over-64-kib", "one-long-line"],
)
def test_steward_serve_bounds_the_headers(
    served_steward: Server, lines: int, line_bytes: int, status: int
) -> None:
    # given `steward serve`, and a request with this many header lines of this size
    with _connect(served_steward.url) as sock:
        # when it is sent
        sock.sendall(_head(lines, line_bytes))
        # then headers within 64 KiB and 100 lines are served; others get 431, and the
        # connection is closed
        answer, body = _response(sock)
        assert answer == status
        if status == 431:
            assert body["errors"][0]["extensions"]["code"] == "HEADERS_TOO_LARGE"
            assert _closed(sock)


def test_any_asgi_server_gets_431_for_headers_over_the_bounds(live_server: str) -> None:
    # given the app under another server (plain uvicorn, which keeps any number of headers)
    for head in (_head(101, 100), _head(70, 1000)):
        with _connect(live_server) as sock:
            # when a request's headers are over the bounds
            sock.sendall(head)
            # then it gets 431, and the connection is closed
            status, body = _response(sock)
            assert status == 431
            assert body["errors"][0]["extensions"]["code"] == "HEADERS_TOO_LARGE"
            assert _closed(sock)


def test_a_header_flood_leaves_a_worker_within_50_mib_of_its_idle_rss(
    served_steward: Server,
) -> None:
    # given `steward serve` at its resident memory after a request
    assert httpx.get(f"{served_steward.url}/healthz", timeout=10).status_code == 200
    assert served_steward.process is not None
    idle = _rss(served_steward.process.pid)
    line = b"X-Flood: " + b"f" * 8180 + b"\r\n"
    sent = 0
    peak = idle
    # when one unauthenticated connection sends 8 KB header lines, up to 100 MB
    with _connect(served_steward.url) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: steward\r\n")
        try:
            while sent < 100 * MIB:
                sock.sendall(line * 16)
                sent += len(line) * 16
                if sent % (4 * MIB) < len(line) * 16:
                    peak = max(peak, _rss(served_steward.process.pid))
        except (BrokenPipeError, ConnectionResetError):
            pass
        peak = max(peak, _rss(served_steward.process.pid))
        # then it is refused (431) long before the end, and the worker stayed near its idle
        # memory
        assert sent < 100 * MIB
        assert _head_of(sock).split()[1] == b"431"
    assert peak - idle < 50 * MIB, f"grew by {(peak - idle) / MIB:.0f} MiB"


def test_a_body_sent_without_a_token_is_answered_401_and_left_unread(live_server: str) -> None:
    # given a client that streams a 50 MB chunked body to /graphql, without a token
    chunk = b"x" * 65536
    sent = [0]

    def stream(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sent[0] < 50 * 1000 * 1000:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent[0] += len(chunk)
            sock.sendall(b"0\r\n\r\n")

    with _connect(live_server) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: steward\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sender = threading.Thread(target=stream, args=(sock,), daemon=True)
        sender.start()
        # when the server answers
        head = _head_of(sock)
        # then it is 401, says it closes the connection, and closes it
        assert head.split()[1] == b"401"
        assert b"\r\nconnection: close\r\n" in head.lower()
        with contextlib.suppress(ConnectionResetError):
            assert _closed_after_body(sock)
        sender.join(timeout=SOCKET_WAIT)
    # and the body was not read to its end
    assert sent[0] < 50 * 1000 * 1000


def _head_of(sock: socket.socket) -> bytes:
    """A response's status line and headers, read from a raw socket within SOCKET_WAIT."""
    data = b""
    deadline = time.monotonic() + SOCKET_WAIT
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\r\n\r\n")[0]


def _closed_after_body(sock: socket.socket) -> bool:
    """Whether the server closes the connection once its response is sent (within SOCKET_WAIT)."""
    deadline = time.monotonic() + SOCKET_WAIT
    while time.monotonic() < deadline:
        if sock.recv(65536) == b"":
            return True
    return False


def _token(key_file: Path, url: str) -> str:
    settings = Settings(
        _env_file=None,
        database_url=url,
        key_file=key_file,
        public_url="https://steward.test",
    )
    keys = load_or_create(key_file)
    return issue_token(settings.tokens, keys, scope=READER, subject="ops-1", client_id="ops")


def _rss(pid: int) -> int:
    """The process's resident set size, in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextlib.contextmanager
def _connect(base_url: str) -> Iterator[socket.socket]:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=SOCKET_WAIT) as sock:
        yield sock


def _response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Read one response (status and JSON body) from a raw socket, within SOCKET_WAIT."""
    data = b""
    deadline = time.monotonic() + SOCKET_WAIT
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "no response"
    headers = dict(
        line.split(": ", 1) for line in head.decode().lower().split("\r\n")[1:] if ": " in line
    )
    length = int(headers.get("content-length", "0"))
    while len(body) < length and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split()[1]), json.loads(body)


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (within SOCKET_WAIT)."""
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
