"""A native app signs a customer in as RFC 8252 says, without a browser here: authlib's
public client with PKCE S256 and a loopback redirect URI on a port of the system's choosing;
the test plays the user at the provider's own login and consent pages over HTTP. Then the
app links the customer with a code made by staff, and reads their access log and disclosures.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]

from tests.support.idp import PASSWORD, LoopbackListener, World, decoded, native_client, play_user

ME = """{ me { id preferredLanguage
  accessLog { occurredAt clientId purpose fields }
  disclosures { at purpose fields recipient { clientId name } } } }"""
LINK = "mutation Link($code: String!) { linkMe(code: $code) { id } }"


def test_a_native_app_signs_in_links_and_reads_the_customers_data(idp_world: World) -> None:
    # given a customer partners received data about, and a link code staff made for them
    customer = idp_world.customers_with_disclosures()[0]
    code = idp_world.link_code(customer["id"])
    metadata = idp_world.idp.metadata()
    # when the app listens on a loopback port and opens the system browser at the provider
    with LoopbackListener() as listener, native_client(listener.redirect_uri) as client:
        verifier = generate_token(64)
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, resource=idp_world.api
        )
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["response_type"] == ["code"]
        # and the customer signs in and consents there; the browser comes back to the app
        back = play_user(url, "cyrus", PASSWORD, listener.redirect_uri)
        assert httpx.get(back, timeout=10).status_code == 200
        callback = parse_qs(urlsplit(listener.callback_url()).query)
        assert callback["state"] == [state]
        assert callback["iss"] == [idp_world.idp.url]
        # and the app exchanges the code with its verifier, for Steward's resource
        token = client.fetch_token(
            metadata["token_endpoint"],
            authorization_response=listener.callback_url(),
            code_verifier=verifier,
            resource=idp_world.api,
        )
    access_token = str(token["access_token"])
    assert decoded(access_token)["aud"] == idp_world.api
    # then Steward knows no customer of that sign-in yet
    assert idp_world.graphql(access_token, "{ me { id } }").json() == {"data": {"me": None}}
    # when the app links it with the code
    linked = idp_world.graphql(access_token, LINK, {"code": code}).json()
    assert linked == {"data": {"linkMe": {"id": customer["id"]}}}
    # then the customer reads their own access log and disclosures
    body = idp_world.graphql(access_token, ME).json()
    assert "errors" not in body, body
    me = body["data"]["me"]
    assert me["id"] == customer["id"]
    assert len(me["disclosures"]) == len(customer["disclosures"])
    assert all(disclosure["recipient"]["name"] for disclosure in me["disclosures"])
    assert me["accessLog"]
    # and the code does not work twice
    again = idp_world.graphql(access_token, LINK, {"code": code}).json()
    assert again["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_the_code_only_comes_back_to_a_registered_redirect(idp_world: World) -> None:
    # A native client's redirect may be any loopback port, but not another host or path.
    metadata = idp_world.idp.metadata()
    with native_client("http://127.0.0.1:9/elsewhere") as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"],
            code_verifier=generate_token(64),
            resource=idp_world.api,
        )
    response = httpx.get(url, timeout=10)
    assert response.status_code == 400
    assert "redirect_uri did not match any of the client&#39;s registered redirect_uris" in (
        response.text
    )
