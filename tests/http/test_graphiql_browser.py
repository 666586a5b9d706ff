"""GraphiQL end to end, in Debian's Chromium driven by Playwright.

A developer opens GraphiQL on a live Steward in development mode, with ``make run``'s demo
data, and finds it ready: a token, the schema and its docs, not one console message nor one
refused request. The example operation runs; the token survives a reload and reaches a new
tab, and is renewed before it expires; the purpose switcher mints a token for another
purpose; the Redactions panel explains a hidden field and gets a token that shows it.
Outside development mode GraphiQL opens without an error and waits for a pasted token.

``STEWARD_UPDATE_SCREENSHOT=1`` also saves the README's screenshots into ``docs/``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from api.devtoken import TTL
from tests.support import ROOT
from tests.support.browser import CHROMIUM_ARGS, require_chromium, running_steward

# One worker runs this module: its browser and server start once (pytest-xdist's loadgroup).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DOCS = ROOT / "docs"
VIEWPORT = {"width": 1400, "height": 900}
RECORD_VIOLATIONS = """
window.stewardViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.stewardViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
STORED_TOKEN = "JSON.parse(localStorage.getItem('steward:dev-token'))"
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".result-window"
RESULT_EDITOR = ".result-window .CodeMirror"
TOKEN_BAR = ".steward-token-bar"
REDACTIONS = ".steward-redactions-panel"
NEEDS_DATE_OF_BIRTH = "Needs customers:read:identity; purposes: fraud_investigation, legal_order."


class Watched:
    """A browser context whose pages report every console message, error and refusal."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.messages: list[str] = []
        self.minted = 0
        context.add_init_script(RECORD_VIOLATIONS)

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("console", lambda message: self.messages.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.messages.append(f"error: {error}"))
        page.on("response", self._response)
        return page

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.messages.append(f"{response.status} {response.url}")
        if response.request.method == "POST" and response.url.endswith("/dev/token"):
            self.minted += 1


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def dev_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Steward as ``make run`` serves it: development mode, 200 demo customers, seed 1."""
    with running_steward(tmp_path_factory.mktemp("live"), dev_mode=True) as base:
        yield base


@pytest.fixture(scope="module")
def production_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_steward(tmp_path_factory.mktemp("live-production")) as base:
        yield base


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    yield Watched(context)
    context.close()


def editor_text(page: Page, selector: str) -> str:
    """The whole text of a GraphiQL editor (CodeMirror renders only the lines in view)."""
    text: str = page.locator(selector).evaluate("element => element.CodeMirror.getValue()")
    return text


def run(page: Page, expected: str) -> dict[str, Any]:
    """Runs the operation in the editor; the rendered result, once it shows ``expected``."""
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    expect(page.locator(RESULT)).to_contain_text(expected)
    result: dict[str, Any] = json.loads(editor_text(page, RESULT_EDITOR))
    return result


def stored_token(page: Page) -> dict[str, Any]:
    token: dict[str, Any] = page.evaluate(STORED_TOKEN)
    return token


def wait_for_token(page: Page, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The stored token, once ``check`` holds for it (the page's CSP forbids wait_for_function)."""
    deadline = time.monotonic() + 10
    while True:
        token = stored_token(page)
        if token and check(token):
            return token
        assert time.monotonic() < deadline, f"the stored token stayed {token}"
        page.wait_for_timeout(100)


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.stewardViolations")
    return found


def open_ready(page: Page, base_url: str) -> None:
    """GraphiQL from ``/``, once its token bar shows a token."""
    page.goto(f"{base_url}/")
    expect(page.locator(QUERY_EDITOR)).to_contain_text("query FirstCustomers")
    expect(page.locator(TOKEN_BAR)).to_contain_text("expires")


def browse_docs(page: Page) -> None:
    page.get_by_role("button", name="Show Documentation Explorer").click()
    page.get_by_role("combobox", name="Ctrl K").fill("dateOfBirth")
    page.get_by_role("option", name="Customer.dateOfBirth").click()
    expect(page.locator(".graphiql-doc-explorer")).to_contain_text(NEEDS_DATE_OF_BIRTH)


def save_screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=tmp_path / name)
    if os.environ.get("STEWARD_UPDATE_SCREENSHOT"):
        shutil.copyfile(tmp_path / name, DOCS / name)


def test_graphiql_opens_ready_keeps_its_token_and_explains_redactions(
    watched: Watched, dev_url: str, tmp_path: Path
) -> None:
    # given: GraphiQL, opened from /, as after make run
    page = watched.page()
    open_ready(page, dev_url)
    token = stored_token(page)
    bar = page.locator(TOKEN_BAR)
    for scope in token["choice"]["scopes"]:
        expect(bar).to_contain_text(scope)
    expect(page.get_by_label("Purpose")).to_have_value("customer_support")

    # when: the docs, without any step first
    browse_docs(page)

    # and: the example operation
    result = run(page, '"redactions"')

    # then: email visible under customer_support, dateOfBirth hidden and explained
    customers = result["data"]["customers"]
    assert customers["totalCount"] == 200
    nodes = [edge["node"] for edge in customers["edges"]]
    assert all("@example." in node["email"] and node["firstName"] for node in nodes)
    assert all(node["dateOfBirth"] is None for node in nodes)
    (redaction,) = result["extensions"]["redactions"]
    assert (redaction["field"], redaction["reason"]) == (
        "Customer.dateOfBirth",
        "PURPOSE_NOT_ALLOWED",
    )
    save_screenshot(page, tmp_path, "graphiql.png")

    # when: reloaded, and opened in a new tab
    page.reload()
    expect(page.locator(TOKEN_BAR)).to_contain_text("expires")
    result = run(page, '"redactions"')
    other = watched.page()
    open_ready(other, dev_url)

    # then: the same token, minted once for this browser
    assert stored_token(page)["jti"] == stored_token(other)["jti"] == token["jti"]
    assert result["data"]["customers"]["totalCount"] == 200
    assert watched.minted == 1
    other.close()

    # when: the Explorer plugin
    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    # then: it builds on the schema, the example's fields ticked
    expect(page.locator(".graphiql-explorer-root")).to_contain_text("dateOfBirth")

    # when: the purpose switcher picks order_fulfillment
    page.get_by_label("Purpose").select_option("order_fulfillment")
    expect(bar).to_contain_text("order_fulfillment")
    wait_for_token(page, lambda token: token["purpose"] == "order_fulfillment")
    result = run(page, '"field": "Customer.email"')

    # then: a token for that purpose; email hidden, only customers in fulfillment
    assert "purpose:order_fulfillment" in stored_token(page)["scope"].split()
    nodes = [edge["node"] for edge in result["data"]["customers"]["edges"]]
    assert nodes
    assert all(node["email"] is None and node["firstName"] for node in nodes)
    assert result["data"]["customers"]["totalCount"] < 200

    # when: the Redactions panel, and its fix for email
    page.get_by_role("button", name="Show Redactions").click()
    panel = page.locator(REDACTIONS)
    expect(panel).to_contain_text("Customer.email")
    expect(panel).to_contain_text("PURPOSE_NOT_ALLOWED")
    save_screenshot(page, tmp_path, "graphiql-redactions.png")
    email = panel.locator(".steward-redaction", has_text="Customer.email")
    email.get_by_role("button", name="New token: customer_support").click()
    wait_for_token(page, lambda token: token["purpose"] == "customer_support")
    result = run(page, '"email": "')

    # then: email shows again
    nodes = [edge["node"] for edge in result["data"]["customers"]["edges"]]
    assert all("@example." in node["email"] for node in nodes)
    expect(panel).to_contain_text("Customer.dateOfBirth")
    expect(panel).not_to_contain_text("Customer.email")

    # and: not one console message, refused request or policy violation
    assert watched.messages == []
    assert violations(page) == []


def test_the_token_is_renewed_before_it_expires(watched: Watched, dev_url: str) -> None:
    # given: GraphiQL with its token, on a clock the test moves
    page = watched.page()
    page.clock.install()
    open_ready(page, dev_url)
    first = stored_token(page)
    # when: the token's lifetime all but runs out
    page.clock.run_for((TTL - 30) * 1000)
    # then: a new token has taken its place, and it works
    wait_for_token(page, lambda token: token["jti"] != first["jti"])
    assert stored_token(page)["choice"] == first["choice"]
    assert run(page, '"redactions"')["data"]["customers"]["totalCount"] == 200
    assert watched.messages == []


def test_the_token_page_has_a_legal_reference_for_legal_order(
    watched: Watched, dev_url: str
) -> None:
    # given
    page = watched.page()
    page.goto(f"{dev_url}/dev/token")
    reference = page.get_by_label("Legal reference (X-Legal-Reference)")
    expect(reference).to_be_hidden()
    # when
    page.get_by_label("Purpose (X-Purpose)").select_option("legal_order")
    page.get_by_role("button", name="Get a token and open GraphiQL").click()
    # then: refused without a reference, then kept with it
    expect(page.get_by_role("alert")).to_contain_text("legal reference")
    reference.fill("LR-2026-0042")
    page.get_by_role("button", name="Get a token and open GraphiQL").click()
    page.wait_for_url(f"{dev_url}/graphql")
    expect(page.locator(TOKEN_BAR)).to_contain_text("expires")
    expect(page.get_by_label("Purpose")).to_have_value("legal_order")
    expect(page.locator(TOKEN_BAR).get_by_role("textbox")).to_have_value("LR-2026-0042")
    assert stored_token(page)["headers"]["X-Legal-Reference"] == "LR-2026-0042"
    # the refusal (400) is the only thing logged: no request under the unknown reference
    # fails before an operation is run, introspection goes without a purpose
    assert watched.messages
    assert [message for message in watched.messages if "400" not in message] == []


def test_outside_development_mode_graphiql_opens_without_an_error(
    watched: Watched, production_url: str
) -> None:
    # given
    page = watched.page()
    graphql_requests: list[str] = []
    page.on("request", lambda r: graphql_requests.append(r.url) if "/graphql" in r.url else None)
    # when
    page.goto(f"{production_url}/graphql")
    expect(page.locator(QUERY_EDITOR)).to_contain_text("query FirstCustomers")
    expect(page.locator(HEADERS_EDITOR)).to_contain_text('"Bearer <access token>"')
    page.wait_for_timeout(500)
    # then: no schema request without a token, no token kept, nothing in the console
    assert graphql_requests == [f"{production_url}/graphql"]
    assert page.evaluate(STORED_TOKEN) is None
    assert page.locator(TOKEN_BAR).count() == 0
    assert watched.messages == []
    assert violations(page) == []
