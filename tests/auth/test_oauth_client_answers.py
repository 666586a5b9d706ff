"""``/oauth/token`` answers an unknown client and a wrong secret alike (SPEC section 7)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.tokens import clients
from store.database import transaction

PUBLIC_URL = "http://127.0.0.1:8000"  # OAuth over plain http only on loopback


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"public_url": PUBLIC_URL}))
    with TestClient(app, base_url=PUBLIC_URL) as client:
        yield client


@pytest.fixture
def registered(web: TestClient) -> str:
    """The id of a registered client."""
    with transaction(web.app.state.sessions) as session:  # type: ignore[attr-defined]
        client_id, _ = clients.register(session, "prometheus", "metrics:read")
    return client_id


def basic(client_id: str, secret: str) -> dict[str, Any]:
    credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"headers": {"Authorization": f"Basic {credentials}"}, "data": {}}


def post(client_id: str, secret: str) -> dict[str, Any]:
    return {"headers": {}, "data": {"client_id": client_id, "client_secret": secret}}


def answer(web: TestClient, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Status, body and headers of a token request (its request id aside)."""
    response = web.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **request["data"]},
        headers=request["headers"],
    )
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, response.json(), headers


@pytest.mark.parametrize("method", [basic, post], ids=["client_secret_basic", "client_secret_post"])
def test_unknown_client_and_wrong_secret_get_the_same_answer(
    web: TestClient, registered: str, method: Callable[[str, str], dict[str, Any]]
) -> None:
    # given a registered client, and an id nobody registered
    # when each authenticates with a wrong secret
    known = answer(web, method(registered, "wrong-secret"))
    unknown = answer(web, method("nobody-at-all", "wrong-secret"))
    # then the answers are the same, byte for byte: invalid_client
    assert known == unknown
    assert known[0] == 401
    assert known[1]["error"] == "invalid_client"


def test_unknown_client_costs_the_same_secret_check(
    web: TestClient, registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a count of scrypt computations
    computed: list[int] = []
    scrypt = hashlib.scrypt

    def counted(*args: Any, **kwargs: Any) -> bytes:
        computed.append(kwargs["n"])
        return scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    # when a wrong secret is sent for a known and for an unknown client
    answer(web, basic(registered, "wrong-secret"))
    known = list(computed)
    computed.clear()
    answer(web, basic("nobody-at-all", "wrong-secret"))
    # then both checked a secret against a hash of the same cost
    assert known == computed == [2**14]
