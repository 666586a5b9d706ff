"""The development token page refuses anything a reverse proxy relayed (SPEC section 7)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from api import devtoken
from api.app import create_app
from api.settings import Settings

LOCAL = "http://127.0.0.1:8000"
SAME_ORIGIN = {"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}
CHOICE = {"scopes": ["customers:read"], "purpose": "customer_support"}


@pytest.fixture
def as_local(settings: Settings) -> Iterator[TestClient]:
    """A loopback peer naming a loopback host, in development mode."""
    dev = settings.model_copy(update={"dev_mode": True, "public_url": LOCAL})
    with TestClient(create_app(dev), base_url=LOCAL, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.mark.parametrize(
    "proxy",
    [
        {"Forwarded": "for=192.0.2.10;proto=http"},
        {"X-Forwarded-For": "192.0.2.10"},
        {"X-Real-IP": "192.0.2.10"},
        {"X-Forwarded-For": "127.0.0.1"},
    ],
    ids=["Forwarded", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-For loopback"],
)
def test_a_request_relayed_by_a_proxy_finds_no_token_page(
    as_local: TestClient, proxy: dict[str, str]
) -> None:
    # when the page and a token are asked for through a proxy on the same host
    page = as_local.get(devtoken.PATH, headers=proxy)
    minted = as_local.post(devtoken.PATH, json=CHOICE, headers={**SAME_ORIGIN, **proxy})
    # then the page does not exist, and no token is minted
    assert page.status_code == 404
    assert minted.status_code == 404
    assert "eyJ" not in minted.text


def test_the_same_request_without_proxy_headers_gets_a_token(as_local: TestClient) -> None:
    minted = as_local.post(devtoken.PATH, json=CHOICE, headers=SAME_ORIGIN)
    assert minted.status_code == 200
    assert minted.json()["access_token"].startswith("eyJ")
