"""The development token page answers only with the run's secret, from loopback, and
refuses anything a reverse proxy says it relayed (SPEC section 7, v4 and v5).

A default nginx ``proxy_pass`` on the same host adds no forwarding header: its requests come
from loopback and look local. The defence is the per-run secret ``steward serve`` prints in
the GraphiQL URL (a cookie after the first visit), which such a client never saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from api import devtoken
from api.app import create_app
from api.settings import Settings
from store.database import upgrade
from tests.support.auth import DEV_SECRET
from tests.support.servers import Server, running, server_env

LOCAL = "http://127.0.0.1:8000"
SAME_ORIGIN = {"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}
CHOICE = {"scopes": ["customers:read"], "purpose": "customer_support"}
HTML = {"Accept": "text/html"}


@pytest.fixture
def dev(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"dev_mode": True, "public_url": LOCAL, "dev_token_secret": SecretStr(DEV_SECRET)}
    )


@pytest.fixture
def unentered(dev: Settings) -> Iterator[TestClient]:
    """A loopback peer naming a loopback host, in development mode, that never opened the
    printed URL: a same-host reverse proxy without forwarding headers, another local user."""
    with TestClient(create_app(dev), base_url=LOCAL, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture
def as_local(unentered: TestClient) -> TestClient:
    """The developer's browser, once it opened the printed URL."""
    opened = unentered.get(f"/graphql?token={DEV_SECRET}", headers=HTML, follow_redirects=False)
    assert opened.status_code == 303
    return unentered


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


def test_a_local_client_without_the_secret_gets_no_token(unentered: TestClient) -> None:
    # when a loopback client that never saw the printed URL asks for the page and a token
    page = unentered.get(devtoken.PATH, headers=HTML)
    minted = unentered.post(devtoken.PATH, json=CHOICE, headers=SAME_ORIGIN)
    wrong = unentered.post(
        f"{devtoken.PATH}?token=not-the-secret", json=CHOICE, headers=SAME_ORIGIN
    )
    # then it is refused, and told where the secret is
    assert (page.status_code, minted.status_code, wrong.status_code) == (403, 403, 403)
    assert "steward serve" in minted.json()["error"]
    assert "eyJ" not in minted.text + wrong.text + page.text


def test_a_wrong_secret_in_the_url_sets_no_cookie(unentered: TestClient) -> None:
    # when the GraphiQL URL is opened with another secret
    opened = unentered.get("/graphql?token=not-the-secret", headers=HTML, follow_redirects=False)
    # then the page opens, but no cookie is set and no token can be minted
    assert opened.status_code == 200
    assert "set-cookie" not in opened.headers
    assert unentered.post(devtoken.PATH, json=CHOICE, headers=SAME_ORIGIN).status_code == 403


def test_the_printed_url_sets_a_strict_http_only_cookie_and_drops_the_secret(
    unentered: TestClient,
) -> None:
    # when the developer opens the printed URL
    opened = unentered.get(
        f"/graphql?token={DEV_SECRET}&tab=1", headers=HTML, follow_redirects=False
    )
    # then the page comes back without the secret in its address, with a cookie
    assert opened.status_code == 303
    assert opened.headers["location"] == "/graphql?tab=1"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith("steward-dev-8000=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    # and with the cookie alone, the page mints a token
    minted = unentered.post(devtoken.PATH, json=CHOICE, headers=SAME_ORIGIN)
    assert minted.status_code == 200


def test_the_secret_in_the_token_page_s_own_url_works_too(unentered: TestClient) -> None:
    opened = unentered.get(f"{devtoken.PATH}?token={DEV_SECRET}", follow_redirects=False)
    assert (opened.status_code, opened.headers["location"]) == (303, devtoken.PATH)
    assert unentered.get(devtoken.PATH, headers=HTML).status_code == 200


def test_development_mode_without_a_secret_has_no_token_page(settings: Settings) -> None:
    # given development mode with no secret (an app not started by `steward serve`)
    dev = settings.model_copy(update={"dev_mode": True, "public_url": LOCAL})
    with TestClient(create_app(dev), base_url=LOCAL, client=("127.0.0.1", 50000)) as client:
        # then nothing can mint a token
        assert client.post(devtoken.PATH, json=CHOICE, headers=SAME_ORIGIN).status_code == 404


def test_every_worker_of_steward_serve_knows_the_secret_it_printed(tmp_path: Path) -> None:
    # given `steward serve --workers 2` in development mode, and the one line it printed
    database = f"sqlite:///{tmp_path / 'steward.db'}"
    upgrade(database)
    env = server_env(database_url=database, key_file=str(tmp_path / "keys.json"), dev_mode="true")
    server = Server(env, tmp_path, args=["--workers", "2"])
    with running(server):
        printed = [line for line in server.log().splitlines() if "/graphql?token=" in line]
        assert len(printed) == 1, server.log()
        url = printed[0].split()[-1]
        assert url.startswith(f"{server.url}/graphql?token=")
        # when browsers open it, each on new connections (either worker may answer)
        for _ in range(8):
            with httpx.Client(follow_redirects=True, timeout=10) as browser:
                opened = browser.get(url, headers=HTML)
                minted = browser.post(
                    f"{server.url}{devtoken.PATH}", json=CHOICE, headers={"Origin": server.url}
                )
            # then every one gets its token
            assert (opened.status_code, minted.status_code) == (200, 200)
        # and without the secret, none does
        bare = httpx.post(
            f"{server.url}{devtoken.PATH}", json=CHOICE, headers={"Origin": server.url}
        )
        assert bare.status_code == 403
