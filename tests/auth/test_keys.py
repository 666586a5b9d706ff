"""The built-in issuer's key file: created atomically, private, rotated by prepending."""

from __future__ import annotations

import json
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from auth.tokens.keys import generate, load_or_create, public_jwks, signing_algorithm


def test_missing_file_is_created_private_with_one_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "steward-keys.json"
    keys = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (key,) = keys.keys
    assert key.is_private
    assert (key.alg, key.get("use"), key.kid) == ("ES256", "sig", key.thumbprint())
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_existing_file_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert load_or_create(path) == load_or_create(path)


def test_concurrent_workers_end_with_the_same_keys(tmp_path: Path) -> None:
    # given many workers starting at once on a missing key file
    path = tmp_path / "keys.json"
    start = threading.Barrier(16)

    def worker() -> dict[str, object]:
        start.wait()
        return dict(load_or_create(path).as_dict(private=True))

    # when each loads or creates it
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: worker(), range(16)))
    # then every worker holds the keys that are in the file
    on_disk = json.loads(path.read_text())
    assert all(result == on_disk for result in results)
    assert list(tmp_path.iterdir()) == [path]


def test_first_key_signs_and_all_are_published(tmp_path: Path) -> None:
    new, old = generate(), generate()
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(KeySet([new, old]).as_dict(private=True)))
    path.chmod(0o600)
    keys = load_or_create(path)
    published = public_jwks(keys)["keys"]
    assert [key["kid"] for key in published] == [new.kid, old.kid]
    assert all("d" not in key for key in published)
    assert keys.keys[0].kid == new.kid


def test_key_without_alg_gets_the_usual_one(tmp_path: Path) -> None:
    key = ECKey.generate_key("P-384")
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    (loaded,) = load_or_create(path).keys
    assert signing_algorithm(loaded) == "ES384"
    assert public_jwks(KeySet([loaded]))["keys"][0]["alg"] == "ES384"
    token = jwt.encode({"alg": "ES384"}, {"sub": "x"}, loaded, algorithms=["ES384"])
    assert jwt.decode(token, loaded, algorithms=["ES384"]).claims == {"sub": "x"}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"keys": []}),
        json.dumps({"keys": [generate().as_dict(private=False)]}),
        json.dumps({"keys": [OctKey.generate_key(256).as_dict(private=True)]}),
    ],
    ids=["not json", "empty", "public key only", "symmetric key"],
)
def test_unusable_key_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"keys\.json"):
        load_or_create(path)
