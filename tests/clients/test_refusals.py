"""Tokens Steward must refuse, from a real provider, and requests the provider must refuse.

A refused token changes nothing: the link code it tried stays good for the right customer.
"""

from __future__ import annotations

import httpx
import pytest
from authlib.common.security import generate_token  # type: ignore[import-untyped]

from auth.tokens.errors import Cause, InvalidToken
from tests.support.idp import (
    OTHER_RESOURCE,
    PASSWORD,
    World,
    decoded,
    native_client,
    play_user,
    running_idp,
    sign_in,
)

LINK = "mutation Link($code: String!) { linkMe(code: $code) { id } }"


def refused(world: World, token: str, code: str) -> tuple[int, str, str]:
    response = world.graphql(token, LINK, {"code": code})
    (error,) = response.json()["errors"]
    return response.status_code, error["extensions"]["code"], error["message"]


def test_a_token_of_an_untrusted_provider_is_refused_and_changes_nothing(
    idp_world: World,
) -> None:
    customer = idp_world.customers_with_disclosures()[-1]  # no other test links this one
    # given another provider, which issues tokens for Steward's URL too
    code = idp_world.link_code(customer["id"])
    with running_idp((idp_world.api,)) as stranger:
        token = sign_in(stranger, "dara", resource=idp_world.api)
    assert decoded(token)["aud"] == idp_world.api
    # when its token tries to link a customer, then: 401, untrusted issuer, naming the trusted
    status, error, message = refused(idp_world, token, code)
    assert (status, error) == (401, "INVALID_TOKEN")
    assert message.startswith(str(InvalidToken(Cause.UNTRUSTED_ISSUER))[:-1] + "; it trusts ")
    assert idp_world.idp.url in message
    assert stranger.url not in message
    # and the code still links the customer for a trusted sign-in
    trusted = sign_in(idp_world.idp, "dara", resource=idp_world.api)
    linked = idp_world.graphql(trusted, LINK, {"code": code}).json()
    assert linked == {"data": {"linkMe": {"id": customer["id"]}}}


def test_a_token_for_another_resource_is_refused_and_changes_nothing(
    idp_world: World,
) -> None:
    customer = idp_world.customers_with_disclosures()[-2]  # no other test links this one
    # given the trusted provider's token for another API (resource indicator)
    token = sign_in(idp_world.idp, "elham", resource=OTHER_RESOURCE)
    assert decoded(token)["aud"] == OTHER_RESOURCE
    code = idp_world.link_code(customer["id"])
    # when it is presented to Steward, then: 401, wrong audience, with a Bearer challenge
    response = idp_world.graphql(token, LINK, {"code": code})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert refused(idp_world, token, code)[1:] == (
        "INVALID_TOKEN",
        str(InvalidToken(Cause.WRONG_AUDIENCE)),
    )
    # and nothing was linked: elham's token for Steward finds no customer
    own = sign_in(idp_world.idp, "elham", resource=idp_world.api)
    assert idp_world.graphql(own, "{ me { id } }").json() == {"data": {"me": None}}


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", PASSWORD)])
def test_the_provider_signs_in_no_one_without_their_password(
    idp_world: World, user: str, password: str
) -> None:
    metadata = idp_world.idp.metadata()
    redirect = "http://127.0.0.1:9/callback"
    with native_client(redirect) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"],
            code_verifier=generate_token(64),
            resource=idp_world.api,
        )
    with pytest.raises(AssertionError, match=r"401: .*Wrong login or password"):
        play_user(url, user, password, redirect)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"resource": "steward"}, "invalid_target"),
        ({"resource": "https://unknown-api.example.com"}, "invalid_target"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
    ids=["non-uri resource", "unknown resource", "no pkce", "plain pkce", "implicit"],
)
def test_the_provider_refuses_what_the_apps_must_not_ask(
    idp_world: World, changes: dict[str, str | None], error: str
) -> None:
    metadata = idp_world.idp.metadata()
    redirect = "http://127.0.0.1:9/callback"
    with native_client(redirect) as client:
        verifier = generate_token(64)
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, resource=idp_world.api
        )
    request = httpx.URL(url)
    params = dict(request.params)
    for name, value in changes.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    back = play_user(str(request.copy_with(params=params)), "alice", PASSWORD, redirect)
    assert f"error={error}" in back
    assert "code=" not in back
