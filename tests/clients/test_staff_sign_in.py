"""Staff and customers signed in at a real OpenID provider, and tokens Steward must refuse.

The provider (``examples/idp/provider.mjs``) issues RFC 9068 access tokens for Steward's URL
as resource indicator; its staff carry ``groups``, which ``STEWARD_SCOPE_CLAIMS`` maps to
Steward's scopes.
"""

from __future__ import annotations

from tests.support.idp import (
    World,
    decoded,
    sign_in,
)

CUSTOMERS = "{ customers(first: 3) { totalCount edges { node { id firstName email } } } }"
ME = "{ me { id preferredLanguage } }"
SET_CONSENT = "mutation { setMyConsent(purpose: MARKETING, granted: true) { status } }"


def test_provider_issues_rfc9068_tokens_for_stewards_url(idp_world: World) -> None:
    token = sign_in(idp_world.idp, "alice", resource=idp_world.api)
    header = decoded_header(token)
    claims = decoded(token)
    assert header["typ"] == "at+jwt"
    assert claims["iss"] == idp_world.idp.url
    assert claims["aud"] == idp_world.api
    assert claims["client_id"] == "steward-native"
    assert claims["sub"] == "alice"
    assert set(claims["scope"].split()) == {"me:read", "me:write"}
    assert claims["jti"]
    assert "groups" not in claims


def test_staff_with_a_mapped_group_read_customers_under_customer_support(
    idp_world: World,
) -> None:
    # given Sam of the support group, signed in at the provider, with no Steward scope asked
    token = sign_in(idp_world.idp, "sam", resource=idp_world.api, scope="openid")
    claims = decoded(token)
    assert claims["groups"] == ["support"]
    assert claims.get("scope", "") == ""
    # when Sam reads customers under customer_support
    response = idp_world.graphql(token, CUSTOMERS, purpose="customer_support")
    # then the group's scopes apply: identity and contact fields come back
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    nodes = [edge["node"] for edge in body["data"]["customers"]["edges"]]
    assert len(nodes) == 3
    assert all(node["firstName"] and node["email"] for node in nodes)
    # and a purpose the group does not hold is refused
    refused = idp_world.graphql(token, CUSTOMERS, purpose="marketing")
    assert refused.json()["errors"][0]["extensions"]["code"] == "PURPOSE_NOT_PERMITTED"


def test_a_customer_without_a_group_reads_no_customers(idp_world: World) -> None:
    token = sign_in(idp_world.idp, "bao", resource=idp_world.api)
    response = idp_world.graphql(token, CUSTOMERS, purpose="customer_support")
    assert response.json()["errors"][0]["extensions"]["code"] == "PURPOSE_NOT_PERMITTED"


def decoded_header(token: str) -> dict[str, object]:
    import base64
    import json

    part = token.split(".")[0]
    header: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return header
