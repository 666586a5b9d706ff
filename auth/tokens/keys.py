"""The built-in issuer's signing keys: a JSON Web Key Set of private keys in a file.

The first key signs; every key is published (its public part) at ``/.well-known/jwks.json``,
so keys rotate by prepending a new one and removing the old one once its tokens expired.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, OctKey

__all__ = ["ALGORITHMS", "generate", "load_or_create", "public_jwks", "signing_algorithm"]

logger = logging.getLogger(__name__)

#: Asymmetric signature algorithms accepted on tokens; never ``none``, never HMAC.
#: ``EdDSA`` is left out: RFC 9864 deprecates it in favour of ``Ed25519``.
ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "Ed25519",
    "Ed448",
)

_DEFAULT_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "Ed25519": "Ed25519"}


def generate() -> Key:
    """A fresh ES256 signing key whose ``kid`` is its RFC 7638 thumbprint."""
    return ECKey.generate_key(
        "P-256", parameters={"alg": "ES256", "use": "sig"}, private=True, auto_kid=True
    )


def signing_algorithm(key: Key) -> str:
    """The JWS algorithm ``key`` signs with: its ``alg``, else the usual one for its type."""
    if key.alg:
        return key.alg
    if key.key_type == "RSA":
        return "RS256"
    return _DEFAULT_ALG.get(str(key.get("crv")), "")


def public_jwks(keys: KeySet) -> dict[str, Any]:
    """The public JWK Set to publish: public parts only, each with ``alg`` and ``use``."""
    published = []
    for key in keys:
        public = dict(key.as_dict(private=False))
        public.setdefault("alg", signing_algorithm(key))
        public.setdefault("use", "sig")
        published.append(public)
    return {"keys": published}


def load_or_create(path: Path) -> KeySet:
    """The private key set in ``path``, created (mode 0600) with one new key when missing.

    Creation is atomic: the keys are written to a private temporary file, which is then
    hard-linked to ``path``; linking fails when the file exists, so when several workers
    start at once exactly one set wins and every worker reads that one.

    Raises:
        ValueError: the file holds something other than asymmetric private signing keys.
    """
    if not path.exists():
        _create(path, KeySet([generate()]))
    keys = _read(path)
    if path.stat().st_mode & 0o077:
        logger.warning("key file %s is readable by other users; chmod 600 it", path)
    return keys


def _create(path: Path, keys: KeySet) -> None:
    data = json.dumps(keys.as_dict(private=True), indent=2).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another worker won: use its keys
            os.link(temporary, path)
    finally:
        temporary.unlink()


def _read(path: Path) -> KeySet:
    try:
        keys = KeySet.import_key_set(json.loads(path.read_text()))
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a JSON Web Key Set") from error
    for key in keys:
        if isinstance(key, OctKey) or not key.is_private:
            raise ValueError(f"{path}: every key must be an asymmetric private key")
        if signing_algorithm(key) not in ALGORITHMS:
            raise ValueError(f"{path}: key {key.kid} has no allowed signing algorithm")
    return keys
