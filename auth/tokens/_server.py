"""Authlib's authorization server for Steward: the client_credentials grant, clients from the DB.

Authlib has no Starlette integration; like its Flask and Django ones, this module supplies
the request and client adapters, and hands Authlib's ``(status, body, headers)`` back to
the caller (:mod:`auth.tokens._token_endpoint`) to turn into a response.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from authlib.oauth2 import AuthorizationServer  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749 import (  # type: ignore[import-untyped]
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.errors import InvalidScopeError  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker

from auth.policy.scopes import ALL_SCOPES
from auth.tokens.clients import find_active, hash_secret, verify_secret

__all__ = ["AUTH_METHODS", "Issue", "OAuthRequest", "TokenServer"]

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

Issue = Callable[[str, str], tuple[str, int]]
"""``issue(client_id, scope) -> (access_token, expires_in)``."""


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, list[str]]) -> None:
        self._datalist = form
        self._data = {name: values[0] for name, values in form.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class OAuthRequest(OAuth2Request):  # type: ignore[misc]
    """A token request: always a POST of form parameters, already read."""

    def __init__(self, uri: str, headers: Any, form: dict[str, list[str]]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = _Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return {}


class _Client(ClientMixin):  # type: ignore[misc]
    """A client as Authlib sees it: confidential, client_credentials only.

    An unknown (or removed) client id gets a stand-in whose secret never matches, checked
    against a hash of the same cost: the answer, and the work behind it, are those of a
    wrong secret, so the endpoint does not tell which client ids exist.
    """

    def __init__(self, client_id: str, scope: str, secret_hash: str, *, known: bool) -> None:
        self.client_id = client_id
        self.scope = scope
        self._secret_hash = secret_hash
        self._known = known

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.scope.split())
        return " ".join(item for item in (scope or "").split() if item in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(client_secret, self._secret_hash) and self._known

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self) -> None:
        # Authlib only checks the server-wide scopes_supported; RFC 6749 section 3.3 lets
        # the server refuse what the client was not registered for, and Steward does.
        requested = (self.request.payload.scope or "").split()
        if not set(requested) <= set(self.request.client.scope.split()):
            raise InvalidScopeError("The requested scope exceeds the client's registered scope.")
        super().validate_requested_scope()


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server with the client_credentials grant; tokens come from ``issue``."""

    def __init__(self, sessions: sessionmaker[Session], issue: Issue) -> None:
        super().__init__(scopes_supported=list(ALL_SCOPES))
        self._sessions = sessions
        self._issue = issue
        self._unknown_hash = hash_secret(secrets.token_urlsafe(32))
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", self._generate)

    def query_client(self, client_id: str) -> _Client:
        with self._sessions() as session:
            row = find_active(session, client_id)
        if row is None:
            return _Client(client_id, "", self._unknown_hash, known=False)
        return _Client(row.client_id, row.scope, row.secret_hash, known=True)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to store: the access token is a self-contained JWT."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals in this integration."""

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def _generate(self, *, client: _Client, scope: str | None, **_: Any) -> dict[str, Any]:
        # No scope requested: the client's whole registered scope (RFC 6749 section 3.3).
        granted = " ".join(dict.fromkeys((scope or client.scope).split()))
        token, expires_in = self._issue(client.client_id, granted)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": granted,
        }
