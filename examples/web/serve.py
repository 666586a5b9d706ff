"""The web example's static server: another origin than Steward's, as a real app would be.

It serves the page, its script and style, oauth4webapi from ``node_modules`` (pinned by
``package-lock.json``, installed by ``make``), and ``config.json``: where the provider and
Steward are. Every response carries a Content-Security-Policy without ``'unsafe-inline'``:
the page runs no inline script.

Example (beside ``make run`` and ``make idp``)::

    .venv/bin/python -m examples.web.serve --port 8080
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

HERE = Path(__file__).resolve().parent
OAUTH4WEBAPI = HERE.parent.parent / "node_modules" / "oauth4webapi" / "build" / "index.js"
FILES = {
    "/": (HERE / "index.html", "text/html; charset=utf-8"),
    "/app.js": (HERE / "app.js", "text/javascript; charset=utf-8"),
    "/style.css": (HERE / "style.css", "text/css; charset=utf-8"),
    "/icon.svg": (HERE / "icon.svg", "image/svg+xml"),
    "/vendor/oauth4webapi.js": (OAUTH4WEBAPI, "text/javascript; charset=utf-8"),
}


@dataclass(frozen=True, slots=True)
class Config:
    """What the page needs to know, served as ``/config.json``.

    Attributes:
        issuer: the OpenID provider's issuer URL.
        api: Steward's base URL (its ``/graphql`` is called).
        resource: the resource indicator to ask tokens for: Steward's ``STEWARD_AUDIENCE``.
        client_id: the page's public client at the provider.
        scope: the scopes asked for.
        notice_version: the privacy notice's version the page shows; recorded with consents.
    """

    issuer: str
    api: str
    resource: str
    client_id: str = "steward-web"
    scope: str = "openid me:read me:write"
    notice_version: str = "2026-12"


def create_app(config: Config) -> Starlette:
    """The static app for ``config``."""
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"connect-src 'self' {config.issuer} {config.api}",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    body = json.dumps(asdict(config)).encode()

    async def file(request: Request) -> Response:
        path, media_type = FILES[request.url.path]
        return FileResponse(path, media_type=media_type, headers=headers)

    async def settings(_request: Request) -> Response:
        return Response(body, media_type="application/json", headers=headers)

    routes = [Route(path, file, methods=["GET", "HEAD"]) for path in FILES]
    return Starlette(routes=[*routes, Route("/config.json", settings, methods=["GET"])])


def main() -> None:
    """``python -m examples.web.serve``: serve the example on loopback."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--issuer", default="http://127.0.0.1:8001")
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--resource", help="STEWARD_AUDIENCE (default: --api)")
    args = parser.parse_args()
    config = Config(issuer=args.issuer, api=args.api, resource=args.resource or args.api)
    uvicorn.run(create_app(config), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
