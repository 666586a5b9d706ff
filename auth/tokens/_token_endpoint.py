"""``POST /oauth/token`` on Starlette: reads the form, runs Authlib's server in a thread.

Authlib's server is synchronous and the secret check is deliberately slow (scrypt), so it
runs in a worker thread rather than on the event loop.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import parse_qs

from authlib.oauth2.rfc6749 import OAuth2Error  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.errors import InvalidRequestError  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.tokens._server import Issue, OAuthRequest, TokenServer
from store.database import DEFAULT_TIMEOUTS, run_in_thread

__all__ = ["TokenEndpoint"]

MAX_REQUEST_BYTES = 16 * 1024


class TokenEndpoint:
    """``POST /oauth/token``: errors as RFC 6749 section 5.2 says, never cached."""

    def __init__(
        self,
        public_url: str,
        sessions: sessionmaker[Session],
        issue: Issue,
        database_deadline: float = DEFAULT_TIMEOUTS.deadline,
    ) -> None:
        self._uri = f"{public_url}/oauth/token"
        self._server = TokenServer(sessions, issue)
        self._database_deadline = database_deadline

    async def handle(self, request: Request) -> Response:
        """Answer one token request.

        Raises:
            DatabaseUnavailable: the client cannot be looked up in time (``api.errors``
                answers it in the shape of RFC 6749).
        """
        try:
            form = await _read_form(request)
            # Authlib refuses plain http unless on loopback: OAuth 2.0 needs TLS.
            oauth_request = OAuthRequest(self._uri, request.headers, form)
        except OAuth2Error as error:
            status, body, headers = error()
        else:
            status, body, headers = await run_in_thread(
                partial(self._server.create_token_response, oauth_request),
                deadline=self._database_deadline,
            )
        return JSONResponse(body, status_code=status, headers=dict(headers))


async def _read_form(request: Request) -> dict[str, list[str]]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise InvalidRequestError("The body must be application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise InvalidRequestError("The request is too large.")
    try:
        form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidRequestError("The body is not valid form data.") from error
    if "grant_type" not in form:
        raise InvalidRequestError("Missing 'grant_type'.")
    if any(len(values) > 1 for values in form.values()):  # RFC 6749 section 3.2
        raise InvalidRequestError("A parameter is repeated.")
    basic = request.headers.get("authorization", "").lower().startswith("basic ")
    if basic and "client_secret" in form:  # RFC 6749 section 2.3
        raise InvalidRequestError("Use only one client authentication method.")
    return form
