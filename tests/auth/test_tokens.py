"""Built-in issuer tokens on /graphql: what is accepted, and every way a token is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.testclient import TestClient

from api.settings import Settings
from auth.tokens import clients
from auth.tokens.errors import Cause, InvalidToken, MissingToken
from auth.tokens.issuer import issue_token
from auth.tokens.keys import generate, load_or_create
from store.database import transaction
from tests.support.auth import (
    DROP,
    METADATA_URL,
    TYPENAME,
    app_client,
    b64,
    builtin_key,
    call,
    claims_for,
    error_of,
    sign,
)

Forge = Callable[[Settings], str]


def good(settings: Settings, **changes: Any) -> str:
    return sign(claims_for(settings.public_url, **changes), builtin_key(settings))


def alg_none(settings: Settings) -> str:
    header = {"typ": "at+jwt", "alg": "none", "kid": builtin_key(settings).kid}
    return f"{b64(header)}.{b64(claims_for(settings.public_url))}."


def hs256_with_public_key(settings: Settings) -> str:
    # The classic confusion attack: the server's public key used as an HMAC secret. joserfc
    # refuses to build such a key, so the token is signed by hand.
    key = builtin_key(settings)
    assert isinstance(key, ECKey)
    public = key.as_pem(private=False)
    header = {"typ": "at+jwt", "alg": "HS256", "kid": builtin_key(settings).kid}
    signing_input = f"{b64(header)}.{b64(claims_for(settings.public_url))}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def foreign_key(settings: Settings) -> str:
    return sign(claims_for(settings.public_url), ECKey.generate_key("P-256", auto_kid=True))


def foreign_key_posing(settings: Settings) -> str:
    stranger = ECKey.generate_key("P-256")
    return sign(claims_for(settings.public_url), stranger, kid=builtin_key(settings).kid)


def tampered(settings: Settings) -> str:
    header, _, signature = good(settings).split(".")
    widened = claims_for(settings.public_url, scope="privacy:admin audit:read")
    return f"{header}.{b64(widened)}.{signature}"


def _missing(claim: str) -> Any:
    return pytest.param(
        lambda s: good(s, **{claim: DROP}), Cause.MISSING_CLAIM, claim, id=f"{claim} missing"
    )


def _typ(typ: Any) -> Callable[[Settings], str]:
    return lambda s: sign(claims_for(s.public_url), builtin_key(s), typ=typ)


def now() -> int:
    return int(time.time())


REFUSED = [
    pytest.param(lambda s: "not-a-jwt", Cause.MALFORMED, None, id="garbage"),
    pytest.param(lambda s: "abc.def.ghi", Cause.MALFORMED, None, id="garbage segments"),
    pytest.param(
        lambda s: f"{b64({'alg': 'ES256'})}.{b64(b'[1]')}.c2ln",
        Cause.MALFORMED,
        None,
        id="payload not an object",
    ),
    pytest.param(lambda s: good(s, exp=now() - 60), Cause.EXPIRED, None, id="expired"),
    pytest.param(lambda s: good(s, nbf=now() + 120), Cause.NOT_YET_VALID, None, id="not yet valid"),
    pytest.param(lambda s: good(s, iat=now() + 120), Cause.NOT_YET_VALID, None, id="iat in future"),
    pytest.param(
        lambda s: good(s, iss="https://evil.example"), Cause.UNTRUSTED_ISSUER, None, id="wrong iss"
    ),
    pytest.param(
        lambda s: good(s, iss=s.public_url + "/"), Cause.UNTRUSTED_ISSUER, None, id="iss not exact"
    ),
    pytest.param(lambda s: good(s, aud="other"), Cause.WRONG_AUDIENCE, None, id="wrong aud"),
    pytest.param(lambda s: good(s, aud=["a", "b"]), Cause.WRONG_AUDIENCE, None, id="aud list"),
    pytest.param(alg_none, Cause.ALGORITHM_NOT_ALLOWED, None, id="alg none"),
    pytest.param(hs256_with_public_key, Cause.ALGORITHM_NOT_ALLOWED, None, id="HS256 public key"),
    pytest.param(foreign_key, Cause.UNKNOWN_KEY, None, id="untrusted key"),
    pytest.param(foreign_key_posing, Cause.BAD_SIGNATURE, None, id="untrusted key, our kid"),
    pytest.param(tampered, Cause.BAD_SIGNATURE, None, id="tampered payload"),
    pytest.param(_typ("JWT"), Cause.WRONG_TYPE, None, id="typ JWT"),
    pytest.param(_typ(DROP), Cause.WRONG_TYPE, None, id="typ missing"),
    pytest.param(_typ("id_token+jwt"), Cause.WRONG_TYPE, None, id="typ other"),
    pytest.param(lambda s: good(s, sub=""), Cause.INVALID_CLAIM, "sub", id="blank sub"),
    pytest.param(lambda s: good(s, sub=42), Cause.INVALID_CLAIM, "sub", id="sub not a string"),
    pytest.param(lambda s: good(s, exp="soon"), Cause.INVALID_CLAIM, "exp", id="exp not a number"),
    pytest.param(lambda s: good(s, nbf="now"), Cause.INVALID_CLAIM, "nbf", id="nbf not a number"),
    pytest.param(lambda s: good(s, scope=7), Cause.INVALID_CLAIM, "scope", id="scope a number"),
    pytest.param(
        lambda s: good(s, scope=["me:read"]), Cause.INVALID_CLAIM, "scope", id="scope a list"
    ),
    pytest.param(
        lambda s: good(s, client_id=7), Cause.INVALID_CLAIM, "client_id", id="client_id number"
    ),
    *(_missing(claim) for claim in ("iss", "aud", "exp", "iat", "sub", "client_id", "jti")),
]


@pytest.mark.parametrize(("forge", "cause", "claim"), REFUSED)
def test_refused_token_gets_401_invalid_token(
    client: TestClient, settings: Settings, forge: Forge, cause: Cause, claim: str | None
) -> None:
    # given
    token = forge(settings)
    # when
    response = call(client, token)
    # then
    assert response.status_code == 401
    trusted = [settings.public_url]
    expected = InvalidToken(cause, claim=claim, trusted=trusted)
    assert error_of(response) == ("INVALID_TOKEN", str(expected))
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert challenge.endswith(f'resource_metadata="{METADATA_URL}"')
    assert token not in response.text


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"],
    ids=["absent", "empty", "scheme only", "blank token", "basic", "other scheme"],
)
def test_no_bearer_token_gets_401_unauthenticated(
    client: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post("/graphql", json=TYPENAME, headers=headers)
    assert response.status_code == 401
    assert error_of(response) == ("UNAUTHENTICATED", str(MissingToken()))
    assert response.headers["WWW-Authenticate"] == f'Bearer resource_metadata="{METADATA_URL}"'


def test_unauthenticated_caller_learns_nothing_about_the_schema(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert response.status_code == 401
    assert "Customer" not in response.text


@pytest.mark.parametrize(
    "value", ["two words", "x" * 20_000, "a,b"], ids=["space", "huge", "comma"]
)
def test_bearer_value_outside_rfc6750_syntax_is_invalid_token(
    client: TestClient, value: str
) -> None:
    response = client.post("/graphql", json=TYPENAME, headers={"Authorization": f"Bearer {value}"})
    assert response.status_code == 401
    assert error_of(response) == ("INVALID_TOKEN", str(InvalidToken(Cause.MALFORMED)))


ACCEPTED = [
    pytest.param(lambda: {}, id="plain"),
    pytest.param(lambda: {"exp": now() - 10}, id="exp within leeway"),
    pytest.param(lambda: {"nbf": now() + 10}, id="nbf within leeway"),
    pytest.param(lambda: {"iat": now() + 10}, id="iat within leeway"),
    pytest.param(lambda: {"aud": ["other-api", "steward"]}, id="aud list"),
    pytest.param(lambda: {"scope": ""}, id="empty scope"),
    pytest.param(lambda: {"scope": DROP}, id="no scope"),
]


@pytest.mark.parametrize("changes", ACCEPTED)
def test_valid_token_is_accepted(
    client: TestClient, settings: Settings, changes: Callable[[], dict[str, Any]]
) -> None:
    response = call(client, good(settings, **changes()))
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt"])
def test_at_jwt_type_is_matched_case_insensitively(
    client: TestClient, settings: Settings, typ: str
) -> None:
    token = sign(claims_for(settings.public_url), builtin_key(settings), typ=typ)
    assert call(client, token).status_code == 200


def test_issued_token_is_accepted_and_lowercase_scheme_too(
    client: TestClient, settings: Settings
) -> None:
    token = issue_token(
        settings.tokens,
        load_or_create(settings.key_file),
        scope="me:read",
        subject="42",
        client_id="app",
    )
    response = client.post("/graphql", json=TYPENAME, headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_revoked_token_is_refused_from_the_next_request_even_when_cached(
    client: TestClient, settings: Settings
) -> None:
    # given a token that was verified (and cached)
    keys = load_or_create(settings.key_file)
    token = issue_token(settings.tokens, keys, scope="customers:read", subject="s", client_id="c")
    assert call(client, token).status_code == 200
    jti = jwt.decode(token, keys).claims["jti"]
    # when it is revoked
    with transaction(client.app.state.sessions) as session:  # type: ignore[attr-defined]
        assert clients.revoke(session, jti)
    # then the next request is refused
    response = call(client, token)
    assert response.status_code == 401
    assert error_of(response) == ("INVALID_TOKEN", str(InvalidToken(Cause.REVOKED)))


def test_token_of_removed_client_is_refused_even_when_cached(
    client: TestClient, settings: Settings
) -> None:
    # given a registered client with a verified token
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with transaction(sessions) as session:
        client_id, _secret = clients.register(session, "courier", "orders:read")
    keys = load_or_create(settings.key_file)
    token = issue_token(
        settings.tokens, keys, scope="orders:read", subject=client_id, client_id=client_id
    )
    other = issue_token(
        settings.tokens, keys, scope="orders:read", subject="x", client_id="someone-else"
    )
    assert call(client, token).status_code == 200
    # when the client is removed
    with transaction(sessions) as session:
        assert clients.remove(session, client_id)
    # then its tokens are refused, and other clients' are not
    response = call(client, token)
    assert error_of(response) == ("INVALID_TOKEN", str(InvalidToken(Cause.CLIENT_REMOVED)))
    assert call(client, other).status_code == 200


def test_rotated_keys_sign_with_the_first_and_verify_with_all(
    settings: Settings, tmp_path: Path
) -> None:
    # given a key file where a new key was prepended to the old one
    old = load_or_create(settings.key_file)
    rotated = KeySet([generate(), *old.keys])
    rotated_file = tmp_path / "rotated.json"
    rotated_file.write_text(json.dumps(rotated.as_dict(private=True)))
    rotated_file.chmod(0o600)
    new_settings = settings.model_copy(update={"key_file": rotated_file})
    # when tokens are signed before and after the rotation
    before = issue_token(settings.tokens, old, scope="me:read", subject="1", client_id="c")
    after = issue_token(
        new_settings.tokens,
        load_or_create(rotated_file),
        scope="me:read",
        subject="1",
        client_id="c",
    )
    # then both are accepted, the new one names the new key, and all keys are published
    with app_client(new_settings) as client:
        assert call(client, before).status_code == 200
        assert call(client, after).status_code == 200
        published = client.get("/.well-known/jwks.json").json()["keys"]
    assert jwt.decode(after, rotated).header["kid"] == rotated.keys[0].kid
    assert [key["kid"] for key in published] == [key.kid for key in rotated]
