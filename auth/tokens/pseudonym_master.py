"""The pseudonyms' master secret when the key file provides it (SPEC section 13).

Without ``STEWARD_PSEUDONYM_KEY``, the pseudonym keys (`auth.policy.forms.PseudonymKeys`)
derive from the private part of the key file's first key, the one that signs: a deployment
with the built-in issuer has pseudonyms without another secret to keep. Rotating that key (a
new first key) changes every pseudonym; a deployment whose partners keep pseudonyms across
rotations sets ``STEWARD_PSEUDONYM_KEY``.
"""

from __future__ import annotations

from joserfc.jwk import KeySet

__all__ = ["pseudonym_master"]


def pseudonym_master(keys: KeySet) -> bytes:
    """The master secret from the first key of ``keys``: its type and private value ``d``.

    Only the private value counts, so that the file's metadata (``kid``, ``alg``, ``use``)
    may change without changing the pseudonyms. The key derivation (HKDF with its own salt)
    makes keys that have nothing in common with the signatures.

    Raises:
        ValueError: the set is empty, or its first key has no private value.
    """
    if not keys.keys:
        raise ValueError("the key file holds no key to derive pseudonym keys from")
    first = keys.keys[0].as_dict(private=True)
    private = first.get("d")
    if not isinstance(private, str) or not private:
        raise ValueError("the key file's first key has no private value")
    return f"{first['kty']}:{private}".encode()
