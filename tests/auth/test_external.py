"""An external identity provider (STEWARD_ISSUER + STEWARD_JWKS_URL), faked over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from joserfc.jwk import OctKey
from sqlalchemy import Engine
from starlette.testclient import TestClient

from api.settings import Settings
from auth.tokens.authentication import Authenticator
from auth.tokens.errors import Cause, InvalidToken, ProviderUnavailable
from store.database import session_factory
from tests.support.auth import (
    DROP,
    Provider,
    app_client,
    builtin_key,
    call,
    claims_for,
    error_of,
    sign,
)


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def external(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    """The app trusting both the built-in issuer and the provider."""
    with app_client(provider.settings(settings), http=provider.http()) as client:
        yield client


def test_provider_token_is_accepted_and_keys_are_fetched_once(
    external: TestClient, provider: Provider
) -> None:
    assert call(external, provider.token()).status_code == 200
    assert call(external, provider.token(sub="someone-else")).status_code == 200
    assert provider.fetches == 1


def test_builtin_tokens_still_accepted_beside_the_provider(
    external: TestClient, settings: Settings
) -> None:
    token = sign(claims_for(settings.public_url), builtin_key(settings))
    assert call(external, token).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [{"client_id": "app"}, {"azp": "app"}, {"azp": DROP, "cid": "app"}],
    ids=["client_id", "azp", "cid"],
)
def test_provider_client_claims_are_accepted(
    external: TestClient, provider: Provider, claims: dict[str, Any]
) -> None:
    assert call(external, provider.token(**claims)).status_code == 200


@pytest.mark.parametrize(
    ("claims", "cause", "claim"),
    [
        ({"azp": DROP}, Cause.MISSING_CLAIM, "client_id"),
        ({"aud": "another-api"}, Cause.WRONG_AUDIENCE, None),
        ({"sub": DROP}, Cause.MISSING_CLAIM, "sub"),
        ({"iss": "https://idp.example.com"}, Cause.UNTRUSTED_ISSUER, None),
    ],
    ids=["no client", "wrong aud", "no sub", "iss without slash"],
)
def test_provider_token_refusals(
    external: TestClient,
    settings: Settings,
    provider: Provider,
    claims: dict[str, Any],
    cause: Cause,
    claim: str,
) -> None:
    response = call(external, provider.token(**claims))
    assert response.status_code == 401
    refused = InvalidToken(cause, claim=claim, trusted=[Provider.ISSUER, settings.public_url])
    assert error_of(response) == ("INVALID_TOKEN", str(refused))


def test_a_token_of_an_untrusted_issuer_is_told_which_issuers_are_trusted(
    external: TestClient, settings: Settings, provider: Provider
) -> None:
    # given a token signed by the provider's key but naming another issuer
    token = provider.token(iss="https://login.example.org/tenant")
    # when it is sent
    response = call(external, token)
    # then the 401 names both trusted issuers, in the error and in the challenge
    assert response.status_code == 401
    expected = (
        "The access token comes from an issuer this API does not trust; it trusts tokens "
        f"whose 'iss' is {Provider.ISSUER} or {settings.public_url}."
    )
    assert error_of(response) == ("INVALID_TOKEN", expected)
    challenge = response.headers["WWW-Authenticate"]
    assert f'error_description="{expected}"' in challenge
    assert "login.example.org" not in response.text + challenge


def test_issuer_names_that_would_break_the_challenge_are_percent_encoded() -> None:
    # given an issuer configured with characters a quoted-string may not hold as they are
    refused = InvalidToken(Cause.UNTRUSTED_ISSUER, trusted=['https://idp.example/"a b\\c,d'])
    # then the description stays within RFC 6749's error_description characters
    assert refused.message.endswith("is https://idp.example/%22a%20b%5Cc%2Cd.")
    description = refused.www_authenticate("https://r.example")
    assert description is not None
    inner = description.split('error_description="')[1].split('", ')[0]
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in inner)


def test_rotated_provider_key_is_fetched_on_unknown_kid(
    external: TestClient, provider: Provider
) -> None:
    # given the provider's keys were fetched
    assert call(external, provider.token()).status_code == 200
    # when the provider rotates (prepends a new key) and signs with it
    provider.keys.insert(0, provider.new_key())
    # then the new kid triggers one refresh, and old and new tokens work
    assert call(external, provider.token()).status_code == 200
    assert call(external, provider.token(key=provider.keys[1])).status_code == 200
    assert provider.fetches == 2


def test_unknown_kids_refresh_at_a_bounded_rate(external: TestClient, provider: Provider) -> None:
    # given the keys were fetched, and a refresh happened for one unknown kid
    assert call(external, provider.token()).status_code == 200
    stranger = Provider.new_key()
    assert error_of(call(external, provider.token(key=stranger)))[0] == "INVALID_TOKEN"
    assert provider.fetches == 2
    # when more tokens with unknown kids arrive at once
    for _ in range(5):
        response = call(external, provider.token(key=Provider.new_key()))
        assert error_of(response) == ("INVALID_TOKEN", str(InvalidToken(Cause.UNKNOWN_KEY)))
    # then the provider is not asked again
    assert provider.fetches == 2


def test_provider_down_gives_503_and_fails_fast(settings: Settings, provider: Provider) -> None:
    # given a provider that cannot be reached
    provider.up = False
    with app_client(provider.settings(settings), http=provider.http()) as client:
        # when its token is presented
        response = call(client, provider.token())
        # then 503 without a Bearer challenge, and no retry storm
        assert response.status_code == 503
        assert error_of(response) == ("IDENTITY_PROVIDER_UNAVAILABLE", str(ProviderUnavailable()))
        assert "WWW-Authenticate" not in response.headers
        assert call(client, provider.token()).status_code == 503
        assert provider.fetches == 1


def test_provider_error_status_gives_503(settings: Settings, provider: Provider) -> None:
    provider.status = 500
    with app_client(provider.settings(settings), http=provider.http()) as client:
        assert error_of(call(client, provider.token()))[0] == "IDENTITY_PROVIDER_UNAVAILABLE"


def test_fetched_keys_keep_working_while_provider_is_down(
    external: TestClient, provider: Provider
) -> None:
    assert call(external, provider.token()).status_code == 200
    provider.up = False
    assert call(external, provider.token(sub="other")).status_code == 200


def test_plain_jwt_typ_only_when_allowed(settings: Settings, provider: Provider) -> None:
    plain = provider.token(header={"typ": "JWT"})
    untyped = provider.token(header={"typ": DROP})
    with app_client(provider.settings(settings), http=provider.http()) as strict:
        assert error_of(call(strict, plain))[1] == str(InvalidToken(Cause.WRONG_TYPE))
    lenient_settings = provider.settings(settings, allow_plain_jwt=True)
    with app_client(lenient_settings, http=provider.http()) as lenient:
        assert call(lenient, plain).status_code == 200
        assert call(lenient, provider.token()).status_code == 200
        assert error_of(call(lenient, untyped))[1] == str(InvalidToken(Cause.WRONG_TYPE))


def test_hmac_key_in_provider_jwks_is_never_used(settings: Settings, provider: Provider) -> None:
    # given a provider that wrongly publishes a symmetric key beside its RSA key
    secret = OctKey.generate_key(256, parameters={"alg": "HS256"}, auto_kid=True)
    provider.extra.append(secret.as_dict(private=True))
    forged = sign(claims_for(provider.ISSUER, client_id="x", jti=DROP), secret)
    with app_client(provider.settings(settings), http=provider.http()) as client:
        # then a token signed with it is refused, and the RSA key still works
        response = call(client, forged)
        assert error_of(response) == (
            "INVALID_TOKEN",
            str(InvalidToken(Cause.ALGORITHM_NOT_ALLOWED)),
        )
        assert call(client, provider.token()).status_code == 200


def test_without_builtin_issuer_only_the_provider_is_trusted(
    settings: Settings, provider: Provider
) -> None:
    only_external = provider.settings(settings, builtin_issuer=False)
    builtin = sign(claims_for(settings.public_url), builtin_key(settings))
    with app_client(only_external, http=provider.http()) as client:
        assert call(client, provider.token()).status_code == 200
        refused = InvalidToken(Cause.UNTRUSTED_ISSUER, trusted=[Provider.ISSUER])
        assert error_of(call(client, builtin))[1] == str(refused)
        assert client.post("/oauth/token").status_code == 404
        assert client.get("/.well-known/jwks.json").status_code == 404
        assert client.get("/.well-known/oauth-authorization-server").status_code == 404
        metadata = client.get("/.well-known/oauth-protected-resource").json()
    assert metadata["authorization_servers"] == [Provider.ISSUER]


@pytest.mark.anyio
async def test_client_is_client_id_else_azp_else_cid_and_scopes_from_scp(
    settings: Settings, provider: Provider, engine: Engine
) -> None:
    # The principal is not visible over HTTP with { __typename }: ask the authenticator.
    async with provider.http() as http:
        authenticator = Authenticator(
            provider.settings(settings, builtin_issuer=False).tokens,
            session_factory(engine),
            None,
            http=http,
        )
        cases: list[tuple[dict[str, Any], str]] = [
            ({"client_id": "a", "azp": "b", "cid": "c"}, "a"),
            ({"azp": "b", "cid": "c"}, "b"),
            ({"azp": DROP, "cid": "c"}, "c"),
        ]
        for claims, expected in cases:
            principal = await authenticator.authenticate(f"Bearer {provider.token(**claims)}")
            assert principal.client_id == expected
        token = provider.token(scope=DROP, scp=["orders:read", "me:read"])
        principal = await authenticator.authenticate(f"Bearer {token}")
        assert principal.scopes == {"orders:read", "me:read"}
        assert principal.issuer == Provider.ISSUER
        await authenticator.aclose()
