"""The per-run secret that opens the development token page, as Jupyter's token does.

``steward serve`` (and so ``make run``) in development mode makes a random secret for the run
(unless ``STEWARD_DEV_TOKEN_SECRET`` gives one), puts it in the environment its workers
inherit, and prints the one URL that carries it: ``http://127.0.0.1:8000/graphql?token=…``.
The first visit to that URL (or to ``/dev/token?token=…``) sets a cookie holding the secret —
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it), named
after the port (instances on other ports keep theirs) — and redirects to the same page
without the secret in its address. From then on the token page and its minting answer only
a request that carries the secret, in the cookie or the query, besides coming from loopback:
a process that can reach the port (a reverse proxy, another user's program, a page in a
browser) but never saw the printed URL mints nothing.

Example:
    >>> secret = DevSecret("s3cret")
    >>> secret.url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/graphql?token=s3cret'
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

__all__ = ["ENVIRONMENT", "PARAMETER", "DevSecret", "new_secret"]

ENVIRONMENT = "STEWARD_DEV_TOKEN_SECRET"
"""The variable that hands the secret to the workers (and lets a developer fix it)."""
PARAMETER = "token"
"""The query parameter of the printed URL, as Jupyter names it."""


def new_secret() -> str:
    """A fresh secret for one run: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class DevSecret:
    """Checks that a request carries the run's secret, and hands it to the browser as a cookie.

    Args:
        secret: the run's secret.
    """

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the development token secret may not be empty")
        self._secret = secret.encode()

    def url(self, base: str, path: str = "/graphql") -> str:
        """The address to open: ``path`` on ``base``, with the secret."""
        return f"{base}{path}?{PARAMETER}={self._secret.decode()}"

    def admits(self, request: Request) -> bool:
        """Whether the request carries the secret, in its cookie or its query."""
        given = request.cookies.get(_cookie(request)) or request.query_params.get(PARAMETER)
        return given is not None and hmac.compare_digest(given.encode(), self._secret)

    def entrance(self, request: Request) -> Response | None:
        """For a ``GET`` whose query holds the right secret: a redirect to the same page
        without it, setting the cookie. ``None`` for any other request."""
        given = request.query_params.get(PARAMETER)
        if given is None or not hmac.compare_digest(given.encode(), self._secret):
            return None
        rest = request.url.remove_query_params(PARAMETER)
        target = rest.path + (f"?{rest.query}" if rest.query else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            _cookie(request),
            self._secret.decode(),
            path="/",
            httponly=True,
            samesite="strict",
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def guard(
        self, page: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """``page``, entered through the printed URL: its first visit sets the cookie."""

        async def entered(request: Request) -> Response:
            return self.entrance(request) or await page(request)

        return entered


def _cookie(request: Request) -> str:
    """The cookie's name: one per port, as cookies do not tell ports apart."""
    return f"steward-dev-{request.url.port or 80}"
