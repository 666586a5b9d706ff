"""Support shared by every test folder; nothing here is collected as a test.

- `postgres`: the PostgreSQL server of ``STEWARD_TEST_POSTGRES_URL`` and fresh databases on it.
- `callers`: the scopes of each kind of caller, built from `auth.policy.scopes` and
  `auth.policy.purposes`.
- `world`: a small seeded world (two customers with their rows) and direct reads of the tables.
- `operations`: GraphQL documents used by several folders, and posting one over HTTP.
- `auth`: tokens signed by real keys, and a fake external identity provider.
- `servers`: ``steward`` in real child processes, Redis.
- `browser`: a live Steward on loopback and Debian's Chromium.
- `idp`: a real OpenID provider (npm ``oidc-provider``) beside a live Steward and the web
  example, and a user signing in at it over HTTP.
- `policy_model`: an independent model of the policy, the oracle of ``tests/policy``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root directory."""
