"""The web example's static server: its files, its configuration, and a policy that lets no
inline script run."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from examples.web.serve import Config, create_app
from tests.support import ROOT

CONFIG = Config(
    issuer="https://login.example.com",
    api="https://api.example.com",
    resource="https://api.example.com",
)


def test_the_page_its_script_and_oauth4webapi_are_served_under_a_strict_policy() -> None:
    with TestClient(create_app(CONFIG)) as client:
        page = client.get("/")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "connect-src 'self' https://login.example.com https://api.example.com" in policy
        assert '<script type="module" src="/app.js">' in page.text
        assert "<script>" not in page.text
        assert client.get("/app.js").headers["content-type"].startswith("text/javascript")
        vendor = client.get("/vendor/oauth4webapi.js")
        pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["oauth4webapi"]
        assert f"VERSION = 'v{pinned}'" in vendor.text


def test_the_configuration_names_the_provider_and_stewards_resource() -> None:
    with TestClient(create_app(CONFIG)) as client:
        assert client.get("/config.json").json() == {
            "issuer": "https://login.example.com",
            "api": "https://api.example.com",
            "resource": "https://api.example.com",
            "client_id": "steward-web",
            "scope": "openid me:read me:write",
            "notice_version": "2026-12",
        }


def test_nothing_else_is_served() -> None:
    with TestClient(create_app(CONFIG)) as client:
        assert client.get("/serve.py").status_code == 404
        assert client.get("/../package.json").status_code == 404
        assert client.post("/").status_code == 405
