"""GraphiQL over HTTP: the page, its pinned assets and policy, and the development token page.

The browser itself is in ``test_graphiql_browser.py``; these talk to the app directly, as a
developer on loopback (``as_local``), as anyone else (``as_remote``), and without
development mode (``as_production``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, print_ast
from joserfc import jwt
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import col
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api import devtoken
from api.app import create_app
from api.cli import app as cli
from api.demo import load_demo_data
from api.graphiql import CONTENT_SECURITY_POLICY, DEV_OWN, EXAMPLE_QUERY, NODE_MODULES, VENDOR
from api.settings import Settings
from auth.policy.purposes import DECLARABLE
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from store.database import make_engine, session_factory, transaction
from store.ids import to_global_id
from store.models import Customer
from tests.support import ROOT
from tests.support.auth import DEV_SECRET

LOCAL = "http://127.0.0.1:8000"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
SAME_ORIGIN = {"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}
STAFF_CHOICE = {
    "scopes": ["customers:read", "customers:read:contact"],
    "purpose": "customer_support",
}
CUSTOMERS_QUERY = "{ customers(first: 3) { totalCount edges { node { id email } } } }"
CREATE_LEGAL_REQUEST = """
mutation ($ids: [ID!]!) {
  createLegalRequest(reference: "LR-7", authority: "Court", orderDocument: "Order 7",
                     customerIds: $ids, validUntil: "2100-01-01T00:00:00Z") { reference }
}
"""
ME_QUERY = "{ me { id } }"


class Page(HTMLParser):
    """What a page loads and whether anything is inline."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self.config: dict[str, Any] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "style" or "style" in attributes:
            self.inline.append(tag)
        if any(name.startswith("on") for name in attributes):
            self.inline.append(tag)
        if tag == "script":
            if not attributes.get("src"):
                self.inline.append(tag)
            self.urls.append(attributes["src"] or "")
        if tag == "link":
            self.urls.append(attributes["href"] or "")
        if "data-config" in attributes:
            self.config = json.loads(attributes["data-config"] or "{}")


def _client(settings: Settings, peer: str = "127.0.0.1", base: str = LOCAL) -> TestClient:
    return TestClient(create_app(settings), base_url=base, client=(peer, 50000))


def _entered(client: TestClient) -> TestClient:
    """The client, having opened the GraphiQL URL ``steward serve`` printed (the cookie)."""
    client.get(f"/graphql?token={DEV_SECRET}", headers=HTML, follow_redirects=False)
    return client


@pytest.fixture
def dev_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"dev_mode": True, "public_url": LOCAL, "dev_token_secret": SecretStr(DEV_SECRET)}
    )


@pytest.fixture
def as_local(dev_settings: Settings) -> Iterator[TestClient]:
    """A developer's browser on the same machine, in development mode."""
    with _client(dev_settings) as client:
        yield _entered(client)


@pytest.fixture
def as_remote(dev_settings: Settings) -> Iterator[TestClient]:
    """Someone on another machine, in development mode, who knows the secret."""
    with _client(dev_settings, peer="192.0.2.10") as client:
        yield _entered(client)


@pytest.fixture
def as_production(settings: Settings) -> Iterator[TestClient]:
    """A developer on loopback, without development mode."""
    with _client(settings.model_copy(update={"public_url": LOCAL})) as client:
        yield client


@pytest.fixture
def customer_ids(dev_settings: Settings) -> list[str]:
    """Demo customers in the test database; their global ids, which are their subjects."""
    engine = make_engine(dev_settings.database_url)
    with transaction(session_factory(engine)) as session:
        load_demo_data(session, customers=3, seed=3)
        pks = session.scalars(select(col(Customer.id)).order_by(col(Customer.id))).all()
    engine.dispose()
    return [to_global_id("Customer", pk) for pk in pks if pk is not None]


def _sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


# The page and its assets


def test_the_page_loads_only_steward_s_own_files_and_nothing_inline(
    as_production: TestClient,
) -> None:
    # when
    response = as_production.get("/graphql", headers=HTML)
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = Page(response.text)
    assert page.inline == []
    assert page.urls, "the page loads GraphiQL's files"
    assert all(url.startswith("/static/") or url.startswith("data:") for url in page.urls)
    for url in page.urls:
        if url.startswith("/static/"):
            asset = as_production.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["x-content-type-options"] == "nosniff"
            assert asset.headers["content-type"].split(";")[0] in {"text/javascript", "text/css"}


def test_the_page_has_a_strict_content_security_policy(as_production: TestClient) -> None:
    # when
    response = as_production.get("/graphql", headers=HTML)
    # then
    policy = response.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


def test_vendor_files_are_the_pinned_releases(as_production: TestClient) -> None:
    # given: package-lock.json pins the releases that make installs with npm ci
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    names = ("graphiql", "@graphiql/plugin-explorer", "react", "react-dom")
    pinned = {name: lock[f"node_modules/{name}"]["version"] for name in names}
    assert pinned == {
        "graphiql": "3.8.3",
        "@graphiql/plugin-explorer": "3.2.5",
        "react": "18.2.0",
        "react-dom": "18.2.0",
    }
    assert all(lock[f"node_modules/{name}"]["integrity"].startswith("sha512-") for name in pinned)
    assert NODE_MODULES.is_dir(), "GraphiQL's assets are not installed: run make"
    # then: the installed files are what the page's integrity digests name, and are served
    page = Page(as_production.get("/graphql", headers=HTML).text)
    for name, asset in VENDOR.items():
        assert _sha384(asset.path) == asset.integrity, name
        assert f"/static/vendor/{name}" in page.urls
        assert as_production.get(f"/static/vendor/{name}").content == asset.path.read_bytes()


def test_the_page_opens_with_the_example_operation_and_a_headers_template(
    as_production: TestClient,
) -> None:
    # when
    config = Page(as_production.get("/graphql", headers=HTML).text).config
    # then
    assert config["query"] == EXAMPLE_QUERY
    assert "query FirstCustomers" in config["query"]
    assert set(json.loads(config["headers"])) == {"Authorization", "X-Purpose"}
    assert config["dev"] is None


def test_outside_development_mode_no_script_can_mint_or_keep_a_token(
    as_production: TestClient,
) -> None:
    # when
    page = Page(as_production.get("/graphql", headers=HTML).text)
    # then: neither the token keeper nor the token bar is on the page, nor served
    for name in DEV_OWN:
        assert f"/static/{name}" not in page.urls
        assert as_production.get(f"/static/{name}").status_code == 404, name


def test_in_development_mode_the_page_gets_its_own_token(as_local: TestClient) -> None:
    # when
    page = Page(as_local.get("/graphql", headers=HTML).text)
    # then: the first token has the staff reading scopes and customer_support
    assert page.config["headers"] == ""
    dev = page.config["dev"]
    assert dev["path"] == devtoken.PATH
    assert dev["defaultChoice"] == {
        "scopes": list(devtoken.DEFAULT_SCOPES),
        "purpose": "customer_support",
    }
    # only what X-Purpose may name: never third_party_sharing
    assert [purpose["id"] for purpose in dev["purposes"]] == [p.id for p in DECLARABLE]
    for name in ("dev-session.js", "token-bar.js", "redactions.js", "graphiql.js"):
        assert f"/static/{name}" in page.urls
    # and: that choice mints a working token
    answer = as_local.post(devtoken.PATH, json=dev["defaultChoice"], headers=SAME_ORIGIN).json()
    used = as_local.post("/graphql", json={"query": CUSTOMERS_QUERY}, headers=answer["headers"])
    assert used.status_code == 200, used.text


def test_the_root_redirects_to_graphql(as_production: TestClient) -> None:
    # when
    response = as_production.get("/", headers=HTML, follow_redirects=False)
    # then
    assert response.status_code == 302
    assert response.headers["location"] == "/graphql"


def test_the_example_operation_shows_a_visible_and_a_redacted_field(
    as_local: TestClient, customer_ids: list[str]
) -> None:
    # given
    choice = {**STAFF_CHOICE, "scopes": [*STAFF_CHOICE["scopes"], "customers:read:identity"]}
    headers = as_local.post(devtoken.PATH, json=choice, headers=SAME_ORIGIN).json()["headers"]
    # when
    response = as_local.post("/graphql", json={"query": EXAMPLE_QUERY}, headers=headers)
    # then
    body = response.json()
    nodes = [edge["node"] for edge in body["data"]["customers"]["edges"]]
    assert [node["id"] for node in nodes] == customer_ids[:2]
    # (customer_support reads a date of birth as its year only: SPEC section 13)
    assert all("@" in node["email"] for node in nodes)
    assert all(str(node["dateOfBirth"] or "-01-01").endswith("-01-01") for node in nodes)
    assert body["extensions"]["redactions"] == [
        {
            "field": "Customer.dateOfBirth",
            "reason": "MASKED",
            "form": "generalised",
            "count": 2,
            "needs": {
                "scopes": ["customers:read:identity"],
                "purposes": ["fraud_investigation", "legal_order"],
            },
        }
    ]


def test_the_readme_walks_through_the_example_operation() -> None:
    # given
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A first query in GraphiQL", 1)[1].split("\n## ", 1)[0]
    shown = section.split("```graphql", 1)[1].split("```", 1)[0]
    # then
    assert print_ast(parse(shown)) == print_ast(parse(EXAMPLE_QUERY))
    assert "(docs/graphiql.png)" in section
    assert (ROOT / "docs" / "graphiql.png").stat().st_size < 300_000


def test_without_the_html_accept_header_get_is_graphql_over_http(
    as_production: TestClient,
) -> None:
    # when
    response = as_production.get("/graphql", headers={"Accept": "application/json"})
    # then
    assert response.headers["content-type"].startswith("application/")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "The request needs a query string."


def test_with_graphiql_off_there_is_neither_page_nor_assets(settings: Settings) -> None:
    # given
    off = settings.model_copy(update={"graphiql": False, "dev_mode": True, "public_url": LOCAL})
    with _client(off) as client:
        # when
        page = client.get("/graphql", headers=HTML)
        # then
        assert not page.headers["content-type"].startswith("text/html")
        assert client.get("/static/vendor/graphiql.min.js").status_code == 404
        assert client.get("/static/graphiql.js").status_code == 404
        assert client.get(devtoken.PATH).status_code == 404


def test_files_not_listed_are_not_served(as_production: TestClient) -> None:
    for path in ("/static/vendor/graphiql/package.json", "/static/../pyproject.toml", "/static/"):
        assert as_production.get(path).status_code == 404, path


# The development token page


def test_without_development_mode_the_token_page_does_not_exist(
    as_production: TestClient,
) -> None:
    # when
    page = as_production.get(devtoken.PATH, headers=HTML)
    minted = as_production.post(devtoken.PATH, json=STAFF_CHOICE, headers=SAME_ORIGIN)
    # then
    assert page.status_code == 404
    assert minted.status_code == 404
    assert "eyJ" not in minted.text


def test_the_token_page_refuses_clients_off_loopback(as_remote: TestClient) -> None:
    # when
    page = as_remote.get(devtoken.PATH, headers=HTML)
    minted = as_remote.post(devtoken.PATH, json=STAFF_CHOICE, headers=SAME_ORIGIN)
    # then
    assert page.status_code == 404
    assert minted.status_code == 404
    assert as_remote.put(devtoken.PATH).status_code == 404
    assert "eyJ" not in minted.text


def test_the_token_page_refuses_a_host_that_is_not_loopback(dev_settings: Settings) -> None:
    # given: a loopback peer reached through a foreign name, as in DNS rebinding
    with _client(dev_settings, base="http://attacker.example") as client:
        # when
        minted = client.post(
            devtoken.PATH, json=STAFF_CHOICE, headers={"Origin": "http://attacker.example"}
        )
        # then
        assert client.get(devtoken.PATH).status_code == 404
        assert minted.status_code == 404


def test_the_token_page_is_linked_from_graphiql_and_locked_down(as_local: TestClient) -> None:
    # when
    graphiql = Page(as_local.get("/graphql", headers=HTML).text)
    response = as_local.get(devtoken.PATH, headers=HTML)
    # then
    assert graphiql.config["dev"]["path"] == devtoken.PATH
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    page = Page(response.text)
    assert page.inline == []
    assert all(url.startswith("/static/") or url.startswith("data:") for url in page.urls)
    assert "eyJ" not in response.text, "GET never mints a token"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": LOCAL, "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "http://127.0.0.1:8001"}, 403),
    ],
)
def test_tokens_are_minted_only_for_the_page_s_own_origin(
    as_local: TestClient, headers: dict[str, str], status: int
) -> None:
    # when
    response = as_local.post(devtoken.PATH, json=STAFF_CHOICE, headers=headers)
    # then
    assert response.status_code == status
    assert "access_token" not in response.json()


def test_a_cross_site_form_cannot_mint_a_token(as_local: TestClient) -> None:
    # when: what a form on another site can send
    response = as_local.post(
        devtoken.PATH,
        data={"scope": "customers:read", "purpose": "customer_support"},
        headers={"Origin": "http://evil.example"},
    )
    # then
    assert response.status_code == 415
    assert "access_token" not in response.json()


def test_a_staff_token_works_under_its_purpose(
    as_local: TestClient, dev_settings: Settings
) -> None:
    # when
    response = as_local.post(devtoken.PATH, json=STAFF_CHOICE, headers=SAME_ORIGIN)
    # then
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    claims = jwt.decode(answer["access_token"], load_or_create(dev_settings.key_file)).claims
    assert claims["scope"] == "customers:read customers:read:contact purpose:customer_support"
    assert claims["exp"] - claims["iat"] == devtoken.TTL == 900
    assert (claims["sub"], claims["client_id"]) == ("developer", devtoken.CLIENT_ID)
    assert (answer["jti"], answer["expires_at"]) == (claims["jti"], claims["exp"])
    assert (answer["purpose"], answer["legal_reference"]) == ("customer_support", None)
    assert answer["headers"] == {
        "Authorization": f"Bearer {answer['access_token']}",
        "X-Purpose": "customer_support",
    }
    used = as_local.post("/graphql", json={"query": CUSTOMERS_QUERY}, headers=answer["headers"])
    assert used.status_code == 200, used.text
    assert "errors" not in used.json()


def test_a_customer_token_reads_me(as_local: TestClient, customer_ids: list[str]) -> None:
    # given: the page offers the customers by id
    customer_id = customer_ids[1]
    assert f'<option value="{customer_id}">' in as_local.get(devtoken.PATH, headers=HTML).text
    # when
    response = as_local.post(devtoken.PATH, json={"customer": customer_id}, headers=SAME_ORIGIN)
    # then
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["scope"] == "me:read me:write"
    assert answer["sub"] == customer_id
    assert set(answer["headers"]) == {"Authorization"}
    me = as_local.post(
        "/graphql",
        json={"query": ME_QUERY},
        headers={"Authorization": answer["headers"]["Authorization"]},
    )
    assert me.json() == {"data": {"me": {"id": customer_id}}}


def test_a_legal_order_token_comes_with_its_legal_reference(
    as_local: TestClient, customer_ids: list[str], dev_settings: Settings
) -> None:
    # given: a legal request naming one customer, created by a privacy officer
    keys = load_or_create(dev_settings.key_file)
    officer = issue_token(
        dev_settings.tokens, keys, scope="privacy:admin", subject="privacy-officer", client_id="cli"
    )
    create = as_local.post(
        "/graphql",
        json={"query": CREATE_LEGAL_REQUEST, "variables": {"ids": customer_ids[:1]}},
        headers={"Authorization": f"Bearer {officer}"},
    )
    assert "errors" not in create.json(), create.text
    choice = {"scopes": ["customers:read"], "purpose": "legal_order", "legal_reference": "LR-7"}
    # when
    response = as_local.post(devtoken.PATH, json=choice, headers=SAME_ORIGIN)
    # then
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["headers"]["X-Purpose"] == "legal_order"
    assert answer["headers"]["X-Legal-Reference"] == "LR-7"
    used = as_local.post("/graphql", json={"query": CUSTOMERS_QUERY}, headers=answer["headers"])
    assert used.status_code == 200, used.text
    assert used.json()["data"]["customers"]["totalCount"] == 1


@pytest.mark.parametrize(
    "choice",
    [
        {},
        {"scopes": [], "purpose": "customer_support"},
        {"scopes": ["customers:read"], "purpose": "legal_order"},
        {"scopes": ["customers:read"], "purpose": "legal_order", "legal_reference": " "},
        {"scopes": ["customers:read"], "purpose": "legal_order", "legal_reference": "a\nb"},
        {"scopes": ["me:read"]},
        {"scopes": ["customers:read", "everything"]},
        {"scopes": "customers:read"},
        {"purpose": "curiosity"},
        {"customer": "not-an-id"},
        {"customer": "Q3VzdG9tZXI6OTk5OTk="},
        {"subject": "has spaces"},
    ],
)
def test_a_bad_choice_gets_no_token(as_local: TestClient, choice: dict[str, Any]) -> None:
    # when
    response = as_local.post(devtoken.PATH, json=choice, headers=SAME_ORIGIN)
    # then
    assert response.status_code == 400
    assert response.json()["error"]


# ``steward serve``


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "steward.example"])  # noqa: S104
def test_serve_refuses_development_mode_off_loopback(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"STEWARD_DEV_MODE": "true"})
    # when
    result = runner.invoke(cli, ["serve", "--host", host])
    # then
    assert result.exit_code == 2
    assert "loopback only" in result.output
