"""The web example (``examples/web/``) in Debian's Chromium, from its own origin.

A demo customer opens the page, signs in through the provider's own login and consent
pages (authorization code + PKCE, by oauth4webapi), enters a link code staff made, and the
page ends on their profile, consents, access log and disclosures, in their preferred
language (right to left for Persian). Steward answers the page's origin (CORS) and no other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    expect,
    sync_playwright,
)

from tests.support.browser import CHROMIUM_ARGS, require_chromium
from tests.support.idp import PASSWORD, World

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""
FETCH_STEWARD = """async ([api, token]) => {
  try {
    const response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
      body: JSON.stringify({query: "{ me { id } }"}),
    });
    return `answered ${response.status}`;
  } catch (error) {
    return `refused ${error.name}`;
  }
}"""
TOKEN = "sessionStorage.getItem('steward-example:token')"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def sign_in(page: Page, user: str) -> None:
    """Click Sign in, and go through the provider's own login and consent pages."""
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/interaction/**")
    page.fill("input[name=login]", user)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def consent_purposes(world: World, language: str) -> list[dict[str, str]]:
    """The consent-based purposes, as Steward's policy gives them in ``language``."""
    query = "query P($l: String) { policy(language: $l) { purposes { title consentRequired } } }"
    token = world.staff_token("customers:read")
    body = world.graphql(token, query, {"l": language}).json()
    return [p for p in body["data"]["policy"]["purposes"] if p["consentRequired"]]


def test_a_customer_signs_in_links_and_sees_their_data(idp_world: World, browser: Browser) -> None:
    # given a customer partners received data about, and a link code staff made for them
    customer = idp_world.customers_with_disclosures()[1]
    code = idp_world.link_code(customer["id"])
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))

    def console(message: ConsoleMessage) -> None:
        # The example's own messages (the provider's pages ask for a web font, offline here).
        if str(message.location.get("url", "")).startswith(idp_world.web):
            problems.append(f"{message.type}: {message.text}")

    page.on("console", console)
    try:
        # when they open the example and sign in at the provider
        page.goto(idp_world.web)
        expect(page.locator("#signed-out")).to_be_visible()
        sign_in(page, "bao")
        # then they are back, signed in, and asked to link or register
        page.wait_for_url(f"{idp_world.web}/")
        expect(page.locator("#unlinked")).to_be_visible()
        expect(page.locator("#register-consents label")).to_have_count(3)
        # when they enter the code
        page.fill("#link-code", code)
        page.get_by_role("button", name="Link").click()
        # then the page shows their own data
        expect(page.locator("#customer")).to_be_visible()
        disclosures = page.locator("#disclosures tbody tr")
        expect(disclosures).to_have_count(len(customer["disclosures"]))
        expect(page.locator("#access-log tbody tr").first).not_to_contain_text("Nothing yet")
        # and the purposes in the customer's language (fa-IR: Persian, right to left)
        language = customer["preferredLanguage"].split("-")[0]
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "fa" else "ltr")
        titles = [purpose["title"] for purpose in consent_purposes(idp_world, language)]
        expect(page.locator("#consents li label")).to_have_text(titles)
        # and no script ran inline or reached another origin than the page allows
        assert page.evaluate("window.cspViolations") == []
        assert problems == [], problems
    finally:
        context.close()


def test_steward_answers_the_examples_origin_and_refuses_others(
    idp_world: World, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(idp_world.web)
        sign_in(page, "alice")
        page.wait_for_url(f"{idp_world.web}/")
        expect(page.locator("#unlinked")).to_be_visible()
        token = page.evaluate(TOKEN)
        assert token
        # the example's origin reads Steward's answer (preflight with Authorization passed)
        assert page.evaluate(FETCH_STEWARD, [idp_world.api, token]) == "answered 200"
        # a page of another origin (the provider's) gets nothing: the browser refuses
        page.goto(idp_world.idp.discovery_url)
        assert page.evaluate(FETCH_STEWARD, [idp_world.api, token]) == "refused TypeError"
    finally:
        context.close()


CONSENTS = """query Consents($id: ID!) { customer(id: $id) {
  preferredLanguage consents { purpose status source noticeVersion language } } }"""


def test_a_new_customer_registers_with_consents_and_toggles_them(
    idp_world: World, browser: Browser
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        # given a person without a customer record, signed in at the provider
        page.goto(idp_world.web)
        sign_in(page, "farah")
        expect(page.locator("#unlinked")).to_be_visible()
        # when they register in Persian, consenting to marketing only
        page.fill("input[name=firstName]", "Farah")
        page.fill("input[name=lastName]", "Karimi")
        page.select_option("#register-language", "fa")
        expect(page.locator("#register-consents")).to_have_attribute("dir", "rtl")
        titles = [purpose["title"] for purpose in consent_purposes(idp_world, "fa")]
        expect(page.locator("#register-consents label")).to_have_text(titles)
        page.check("#register-consents input[value=MARKETING]")
        page.get_by_role("button", name="Register").click()
        # then their page opens, right to left, marketing granted and the rest not
        expect(page.locator("#customer")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("li[data-purpose=MARKETING] input")).to_be_checked()
        expect(page.locator("li[data-purpose=ANALYTICS] input")).not_to_be_checked()
        # and the consents hold the evidence of the notice shown: web, its version, Persian
        customer_id = page.evaluate(ME_ID)
        recorded = {c["purpose"]: c for c in consents_of(idp_world, customer_id)}
        assert recorded["MARKETING"] == {
            "purpose": "MARKETING",
            "status": "GRANTED",
            "source": "WEB",
            "noticeVersion": "2026-12",
            "language": "fa",
        }
        assert recorded["ANALYTICS"]["status"] == "WITHDRAWN"
        # when they withdraw marketing with its toggle
        with page.expect_response(is_consent_change):
            page.uncheck("li[data-purpose=MARKETING] input")
        # then it is withdrawn, from the next request on
        expect(page.locator("li[data-purpose=MARKETING] input")).not_to_be_checked()
        statuses = {c["purpose"]: c["status"] for c in consents_of(idp_world, customer_id)}
        assert statuses["MARKETING"] == "WITHDRAWN"
    finally:
        context.close()


ME_ID = """async () => {
  const token = sessionStorage.getItem("steward-example:token");
  const config = await (await fetch("/config.json")).json();
  const response = await fetch(`${config.api}/graphql`, {
    method: "POST",
    headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
    body: JSON.stringify({query: "{ me { id } }"}),
  });
  return (await response.json()).data.me.id;
}"""


def is_consent_change(response: Response) -> bool:
    return response.url.endswith("/graphql") and "setMyConsent" in (
        response.request.post_data or ""
    )


def consents_of(world: World, customer_id: str) -> list[dict[str, str]]:
    """The customer's consents, as staff with ``consents:read`` see them."""
    token = world.staff_token("customers:read consents:read purpose:customer_support")
    response = world.graphql(token, CONSENTS, {"id": customer_id}, purpose="customer_support")
    body = response.json()
    assert "errors" not in body, body
    consents: list[dict[str, str]] = body["data"]["customer"]["consents"]
    return consents
