"""GraphiQL end to end, in Debian's Chromium driven by Playwright.

A developer opens GraphiQL on a live Steward (development mode, demo data), gets a token
through the development token page, runs the example operation under a purpose and reads
the rendered result: ``email`` visible under ``customer_support``, then hidden under
``order_fulfillment`` with the redaction saying why. The page must run without a single
Content-Security-Policy violation.

``STEWARD_UPDATE_SCREENSHOT=1`` also saves the README's screenshot, ``docs/graphiql.png``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import ROOT
from tests.support.browser import CHROMIUM_ARGS, require_chromium, running_steward

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "docs" / "graphiql.png"
VIEWPORT = {"width": 1400, "height": 1060}
RECORD_VIOLATIONS = """
window.stewardViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.stewardViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".result-window"
RESULT_EDITOR = ".result-window .CodeMirror"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_steward(tmp_path_factory.mktemp("live"), dev_mode=True) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], "the page threw"


def editor_text(page: Page, selector: str) -> str:
    """The whole text of a GraphiQL editor (CodeMirror renders only the lines in view)."""
    text: str = page.locator(selector).evaluate("element => element.CodeMirror.getValue()")
    return text


def open_graphiql(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/graphql")
    expect(page.locator(QUERY_EDITOR)).to_contain_text("query FirstCustomers")


def get_token(page: Page, base_url: str, purpose: str) -> None:
    """Through GraphiQL's key button and the development token page."""
    page.get_by_role("button", name="Get a development token").click()
    page.get_by_label("Purpose").select_option(purpose)
    page.get_by_role("button", name="Get a token and open GraphiQL").click()
    page.wait_for_url(f"{base_url}/graphql")
    expect(page.locator(HEADERS_EDITOR)).to_contain_text('"Bearer ey')
    expect(page.locator(HEADERS_EDITOR)).to_contain_text(f'"X-Purpose": "{purpose}"')


def run(page: Page, expected: str) -> dict[str, Any]:
    """Runs the operation in the editor; the rendered result, once it shows ``expected``."""
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    expect(page.locator(RESULT)).to_contain_text(expected)
    result: dict[str, Any] = json.loads(editor_text(page, RESULT_EDITOR))
    return result


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.stewardViolations")
    return found


def test_a_developer_sees_a_field_under_one_purpose_and_its_redaction_under_another(
    page: Page, base_url: str, tmp_path: Path
) -> None:
    # given: GraphiQL, opening with the example operation and the headers template
    open_graphiql(page, base_url)
    expect(page.locator(HEADERS_EDITOR)).to_contain_text('"Authorization": "Bearer <access token>"')

    # when: a token for customer_support, from the development token page
    get_token(page, base_url, "customer_support")
    result = run(page, '"redactions"')

    # then: email is visible, dateOfBirth hidden and explained
    nodes = [edge["node"] for edge in result["data"]["customers"]["edges"]]
    assert len(nodes) == 2
    assert all("@example." in node["email"] for node in nodes)
    assert all(node["dateOfBirth"] is None for node in nodes)
    (redaction,) = result["extensions"]["redactions"]
    assert redaction["field"] == "Customer.dateOfBirth"
    assert redaction["reason"] == "PURPOSE_NOT_ALLOWED"
    results = page.locator(RESULT)
    expect(results).to_contain_text(f'"email": "{nodes[0]["email"]}"')
    expect(results).to_contain_text('"field": "Customer.dateOfBirth"')
    page.screenshot(path=tmp_path / "graphiql.png")
    if os.environ.get("STEWARD_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(tmp_path / "graphiql.png", SCREENSHOT)

    # when: a token for order_fulfillment, which may not read email
    get_token(page, base_url, "order_fulfillment")
    result = run(page, '"field": "Customer.email"')

    # then: email is hidden, and the redaction names what would show it
    nodes = [edge["node"] for edge in result["data"]["customers"]["edges"]]
    assert nodes, "order_fulfillment sees the customers with an order in fulfillment"
    assert all(node["email"] is None and node["firstName"] for node in nodes)
    redactions = {entry["field"]: entry for entry in result["extensions"]["redactions"]}
    assert redactions["Customer.email"]["reason"] == "PURPOSE_NOT_ALLOWED"
    assert "customer_support" in redactions["Customer.email"]["needs"]["purposes"]
    expect(page.locator(RESULT)).to_contain_text('"email": null')
    assert violations(page) == []


def test_the_docs_pane_shows_what_a_field_needs(page: Page, base_url: str) -> None:
    # given: GraphiQL with a token, so that it can load the schema
    open_graphiql(page, base_url)
    get_token(page, base_url, "customer_support")
    # when
    page.get_by_role("button", name="Show Documentation Explorer").click()
    page.get_by_role("combobox").fill("dateOfBirth")
    page.get_by_role("option", name="Customer.dateOfBirth").click()
    # then
    docs = page.locator(".graphiql-doc-explorer")
    expect(docs).to_contain_text(
        "Needs customers:read:identity; purposes: fraud_investigation, legal_order."
    )
    assert violations(page) == []
