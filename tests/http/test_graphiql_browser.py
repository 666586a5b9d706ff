"""GraphiQL end to end, in Debian's Chromium driven by Playwright.

A developer opens GraphiQL on a live Steward in development mode, with ``make run``'s demo
data, and finds it ready: a token, the schema and its docs, not one console message nor one
refused request. The example operation runs; the token survives a reload and reaches a new
tab, and is renewed before it expires; the purpose switcher mints a token for another
purpose; the Redactions panel explains a hidden field and gets a token that shows it.
The docs are open on the first visit; the switcher offers only declarable purposes; the bar
shows the headers an operation sends, and "Copy as curl" copies a command that gets the
answer GraphiQL shows. Outside development mode GraphiQL opens without an error and waits
for a pasted token.

``STEWARD_UPDATE_SCREENSHOT=1`` also saves the README's screenshots into ``docs/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from pydantic import SecretStr

from api.devtoken import TTL
from api.settings import Settings
from auth.policy.purposes import DECLARABLE, Purpose
from tests.support import ROOT
from tests.support.auth import DEV_SECRET, builtin_key, claims_for, sign
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
DOC_EXPLORER = ".graphiql-doc-explorer"
SENT_HEADERS = ".steward-sent .steward-header"
VARIABLES_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
COPY_AS_CURL = "Copy as curl"
# The apostrophe tests the command's shell quoting.
FEW_CUSTOMERS = """# Ali's first customers
query Few($n: Int!) { customers(first: $n) { totalCount edges { node { id email } } } }
"""
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
    with running_steward(
        tmp_path_factory.mktemp("live"), dev_mode=True, dev_token_secret=SecretStr(DEV_SECRET)
    ) as base:
        yield base


@pytest.fixture(scope="module")
def production_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the production server's database and keys."""
    return tmp_path_factory.mktemp("live-production")


@pytest.fixture(scope="module")
def production_url(production_dir: Path) -> Iterator[str]:
    with running_steward(production_dir) as base:
        yield base


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    yield Watched(context)
    context.close()


@pytest.fixture
def with_clipboard(browser: Browser) -> Iterator[Watched]:
    """A watched context whose pages may write and read the clipboard."""
    context = browser.new_context(
        viewport=VIEWPORT,  # type: ignore[arg-type]
        permissions=["clipboard-read", "clipboard-write"],
    )
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


def has_purpose(purpose: Purpose) -> Callable[[dict[str, Any]], bool]:
    """Whether a stored token is for ``purpose``."""
    return lambda token: bool(token["purpose"] == purpose.id)


def violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.stewardViolations")
    return found


def printed(base_url: str) -> str:
    """The GraphiQL URL ``make run`` prints: it carries the run's development secret."""
    return f"{base_url}/graphql?token={DEV_SECRET}"


def open_ready(page: Page, url: str) -> None:
    """GraphiQL at ``url``, once its token bar shows a token."""
    page.goto(url)
    assert DEV_SECRET not in page.url
    expect(page.locator(QUERY_EDITOR)).to_contain_text("query FirstCustomers")
    expect(page.locator(TOKEN_BAR)).to_contain_text("expires")


def set_editor_text(page: Page, selector: str, text: str) -> None:
    page.locator(selector).evaluate("(element, text) => element.CodeMirror.setValue(text)", text)


def browse_docs(page: Page) -> None:
    """Searches the docs, open from the first visit on."""
    expect(page.locator(DOC_EXPLORER)).to_be_visible()
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
    # given: GraphiQL, opened from the URL make run prints
    page = watched.page()
    open_ready(page, printed(dev_url))
    token = stored_token(page)
    bar = page.locator(TOKEN_BAR)
    for scope in token["choice"]["scopes"]:
        expect(bar).to_contain_text(scope)
    expect(page.get_by_label("Purpose")).to_have_value("customer_support")

    # when: the docs, open at once on this first visit
    browse_docs(page)

    # and: the example operation
    result = run(page, '"redactions"')

    # then: email visible under customer_support, dateOfBirth generalised (its year) and explained
    customers = result["data"]["customers"]
    assert customers["totalCount"] == 200
    nodes = [edge["node"] for edge in customers["edges"]]
    assert all("@example." in node["email"] and node["firstName"] for node in nodes)
    born = [node["dateOfBirth"] for node in nodes if node["dateOfBirth"] is not None]
    assert born
    assert all(day.endswith("-01-01") for day in born)
    (redaction,) = result["extensions"]["redactions"]
    assert (redaction["field"], redaction["reason"], redaction["form"]) == (
        "Customer.dateOfBirth",
        "MASKED",
        "generalised",
    )
    save_screenshot(page, tmp_path, "graphiql.png")

    # when: reloaded, and opened in a new tab
    page.reload()
    expect(page.locator(TOKEN_BAR)).to_contain_text("expires")
    result = run(page, '"redactions"')
    other = watched.page()
    open_ready(other, f"{dev_url}/")

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
    open_ready(page, printed(dev_url))
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
    page.goto(f"{dev_url}/dev/token?token={DEV_SECRET}")
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


def test_the_docs_are_open_on_the_first_visit_and_then_as_they_were_left(
    watched: Watched, dev_url: str
) -> None:
    # given: a browser that never opened GraphiQL
    page = watched.page()
    # when
    open_ready(page, printed(dev_url))
    # then: the docs are open, at the schema's root types
    expect(page.locator(DOC_EXPLORER)).to_contain_text("Query")
    # when: closed, then reloaded
    page.get_by_role("button", name="Hide Documentation Explorer").click()
    expect(page.locator(DOC_EXPLORER)).to_have_count(0)
    page.reload()
    expect(page.locator(TOKEN_BAR)).to_contain_text("expires")
    # then: they stay closed
    expect(page.get_by_role("button", name="Show Documentation Explorer")).to_be_visible()
    expect(page.locator(DOC_EXPLORER)).to_have_count(0)
    # when: the Explorer plugin is left open
    page.get_by_role("button", name="Show GraphiQL Explorer").click()
    page.reload()
    # then: it is what opens next time
    expect(page.locator(".graphiql-explorer-root")).to_contain_text("customers")
    assert watched.messages == []
    assert violations(page) == []


def test_the_purpose_switcher_offers_only_declarable_purposes_and_clears_its_errors(
    watched: Watched, dev_url: str
) -> None:
    # given
    page = watched.page()
    open_ready(page, printed(dev_url))
    switcher = page.get_by_label("Purpose")
    bar = page.locator(TOKEN_BAR)
    # then: what X-Purpose may name, and no third_party_sharing
    offered = switcher.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert offered == ["", *(purpose.id for purpose in DECLARABLE)]
    assert Purpose.THIRD_PARTY_SHARING.id not in offered
    # when: a choice the token page refuses (a legal reference it cannot carry)
    switcher.select_option(Purpose.LEGAL_ORDER.id)
    bar.get_by_role("textbox").fill("LR-2026-ü")
    bar.get_by_role("button", name="Use").click()
    # then: the error shows, and the switcher shows the purpose of the token still in use
    expect(bar.get_by_role("alert")).to_contain_text("legal reference")
    expect(switcher).to_have_value(Purpose.CUSTOMER_SUPPORT.id)
    # when: every declarable purpose in turn (legal_order with a reference)
    for purpose in DECLARABLE:
        switcher.select_option(purpose.id)
        if purpose is Purpose.LEGAL_ORDER:
            bar.get_by_role("textbox").fill("LR-2026-0042")
            bar.get_by_role("button", name="Use").click()
        wait_for_token(page, has_purpose(purpose))
        # then: a token for it, and no error left in the bar
        expect(switcher).to_have_value(purpose.id)
        expect(bar.get_by_role("alert")).to_have_count(0)
    # the one refusal (400) is the only thing logged
    assert [message for message in watched.messages if "400" not in message] == []
    assert violations(page) == []


def shown_headers(page: Page) -> dict[str, str]:
    """The headers the token bar says an operation sends, by lower-case name."""
    texts: list[str] = page.locator(SENT_HEADERS).all_text_contents()
    return {name.lower(): value for name, value in (text.split(": ", 1) for text in texts)}


def test_the_token_bar_shows_the_headers_each_operation_sends(
    watched: Watched, dev_url: str
) -> None:
    # given: GraphiQL, and every operation it sends to /graphql
    page = watched.page()
    sent: list[dict[str, str]] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.headers)
            if request.url.endswith("/graphql")
            and request.method == "POST"
            and "IntrospectionQuery" not in (request.post_data or "")
            else None
        ),
    )
    open_ready(page, printed(dev_url))
    expect(page.locator(SENT_HEADERS)).to_have_count(2)

    # when
    run(page, '"redactions"')
    # then: the bar shows the token and purpose the operation carried
    token = stored_token(page)
    assert shown_headers(page) == {
        "authorization": f"Bearer {token['access_token']}",
        "x-purpose": "customer_support",
    }
    assert {name: sent[-1][name] for name in ("authorization", "x-purpose")} == shown_headers(page)

    # when: the headers pane overrides the purpose
    set_editor_text(page, HEADERS_EDITOR, '{"X-Purpose": "billing"}')
    expect(page.locator(TOKEN_BAR)).to_contain_text("X-Purpose: billing")
    run(page, '"errors"')
    # then: what the bar shows is what went
    assert shown_headers(page)["x-purpose"] == sent[-1]["x-purpose"] == "billing"
    assert shown_headers(page)["authorization"] == sent[-1]["authorization"]
    # the token has no purpose:billing: the refusal is the only thing logged
    refusals = [message for message in watched.messages if "/graphql" in message]
    assert refusals
    assert all(
        message in refusals or "Failed to load resource" in message for message in watched.messages
    )


def copied(page: Page) -> str:
    """Clicks "Copy as curl" and returns what it put on the clipboard."""
    page.get_by_role("button", name=COPY_AS_CURL, exact=True).click()
    expect(page.get_by_role("button", name="Copied as curl")).to_be_visible()
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def curl(command: str) -> dict[str, Any]:
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_copy_as_curl_copies_the_operation_with_its_token_purpose_and_legal_reference(
    with_clipboard: Watched, dev_url: str
) -> None:
    # given: an operation with variables
    page = with_clipboard.page()
    open_ready(page, printed(dev_url))
    set_editor_text(page, QUERY_EDITOR, FEW_CUSTOMERS)
    page.get_by_role("button", name="Variables", exact=True).click()
    set_editor_text(page, VARIABLES_EDITOR, '{"n": 1}')
    shown = run(page, '"totalCount"')

    # when
    command = copied(page)

    # then: the absolute URL, the token, the purpose; and it answers what GraphiQL showed
    token = stored_token(page)
    assert command.startswith(f"curl -s '{dev_url}/graphql'")
    assert f"-H 'Authorization: Bearer {token['access_token']}'" in command
    assert "-H 'X-Purpose: customer_support'" in command
    assert "X-Legal-Reference" not in command
    assert curl(command) == shown
    assert shown["data"]["customers"]["totalCount"] == 200

    # when: under legal_order, with its reference
    page.get_by_label("Purpose").select_option(Purpose.LEGAL_ORDER.id)
    bar = page.locator(TOKEN_BAR)
    bar.get_by_role("textbox").fill("LR-2026-0042")
    bar.get_by_role("button", name="Use").click()
    wait_for_token(page, lambda token: token["purpose"] == Purpose.LEGAL_ORDER.id)
    shown = run(page, "INVALID_LEGAL_REFERENCE")
    command = copied(page)

    # then: the reference goes too, and the server answers curl as it answered GraphiQL
    assert "-H 'X-Purpose: legal_order'" in command
    assert "-H 'X-Legal-Reference: LR-2026-0042'" in command
    assert curl(command) == shown
    assert violations(page) == []


def test_outside_development_mode_copy_as_curl_sends_the_headers_pane(
    with_clipboard: Watched, production_url: str, production_dir: Path
) -> None:
    # given: a token pasted into the headers pane, as the README says
    key = builtin_key(Settings(_env_file=None, key_file=production_dir / "keys.json"))
    scope = "customers:read customers:read:contact purpose:customer_support"
    token = sign(claims_for(production_url, scope=scope), key)
    page = with_clipboard.page()
    page.goto(f"{production_url}/graphql")
    expect(page.locator(HEADERS_EDITOR)).to_contain_text('"Bearer <access token>"')
    pane = {"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"}
    set_editor_text(page, HEADERS_EDITOR, json.dumps(pane))
    set_editor_text(page, QUERY_EDITOR, FEW_CUSTOMERS)
    page.get_by_role("button", name="Variables", exact=True).click()
    set_editor_text(page, VARIABLES_EDITOR, '{"n": 2}')
    shown = run(page, '"totalCount"')
    # when
    command = copied(page)
    # then: the pane's headers, and the answer GraphiQL showed
    assert f"-H 'Authorization: Bearer {token}'" in command
    assert "-H 'X-Purpose: customer_support'" in command
    assert curl(command) == shown
    assert len(shown["data"]["customers"]["edges"]) == 2
    assert with_clipboard.messages == []
    assert violations(page) == []
