"""GraphiQL at ``/graphql``, served by Steward itself under a strict Content-Security-Policy.

A privacy product does not send its developers' browsers to a third-party CDN, and the IDE
works without internet. The vendor files (GraphiQL's UMD bundle and stylesheet, its Explorer
plugin, React and ReactDOM) come from the npm registry at install time: ``package.json`` and
``package-lock.json`` pin them, and ``make`` runs ``npm ci`` into ``node_modules/``, which git
ignores. Their SHA-384 digests are pinned here too, as Subresource Integrity, so a browser
refuses a file that differs. The bootstrap, the Redactions panel, the token bar and the
page's styles are Steward's own files in ``api/static/``: nothing is inline, so the policy
needs no ``'unsafe-inline'``.

The policy allows ``data:`` beyond ``'self'`` only for images and fonts, which GraphiQL's
stylesheet embeds. The one ``<style>`` element GraphiQL adds at run time (the scroll lock of
its dialogs) is adopted by the bootstrap through the CSSOM, which the policy does not govern.
Styles that React and CodeMirror set through the DOM are not inline markup either.

In development mode (:class:`DevMode`) the page gets its token from the development token
page on load, keeps it in the browser's local storage and renews it; outside development
mode it opens with a headers template to fill and asks for the schema once a token is there.

Example:
    >>> ide = GraphiQL(dev=DevMode(path="/dev/token", scopes=("customers:read",)))
    >>> routes = ide.routes()  # the assets under /static/
    >>> endpoint = GraphQLEndpoint(settings, authenticator, limiter, execution, ide.page)
"""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from auth.policy.purposes import DECLARABLE, Purpose

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "DEV_OWN",
    "EXAMPLE_QUERY",
    "HEADERS_TEMPLATE",
    "NODE_MODULES",
    "PAGE_HEADERS",
    "VENDOR",
    "Asset",
    "DevMode",
    "GraphiQL",
    "page_response",
]

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
"""Where ``npm ci`` installs the pinned vendor files."""
STATIC = Path(__file__).resolve().parent / "static"
"""Steward's own page files."""

JAVASCRIPT = "text/javascript"
CSS = "text/css"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        # GraphiQL's stylesheet embeds its fonts (Roboto, Fira Code) as data: URLs.
        "font-src 'self' data:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""The policy of every page Steward serves to a browser: only its own files."""

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=(), usb=()",
    "Cache-Control": "no-store",
}
"""Security headers of the HTML pages (the IDE and the development token page)."""

ASSET_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Revalidate: a new lockfile brings new files, and the page's integrity digests with them.
    "Cache-Control": "no-cache",
}

HEADERS_TEMPLATE = json.dumps(
    {"Authorization": "Bearer <access token>", "X-Purpose": Purpose.CUSTOMER_SUPPORT.id},
    indent=2,
)
"""The headers pane of a new tab, ready to fill."""

EXAMPLE_QUERY = f"""\
# Steward. Every request needs two headers:
#   Authorization: Bearer <access token>
#   X-Purpose: what you process the data for, one of
#     {" ".join(p.id for p in DECLARABLE[:2])}
#     {" ".join(p.id for p in DECLARABLE[2:4])}
#     {" ".join(p.id for p in DECLARABLE[4:])}
# In development mode the bar above sends both and
# switches the purpose; elsewhere paste a token from
# `steward token` into the headers pane below.
#
# A field your token or purpose may not read comes
# back null; extensions.redactions (and the
# Redactions panel on the left) says why, and which
# scopes and purposes would show it. The Docs pane
# shows what every field needs.

query FirstCustomers {{
  customers(first: 2) {{
    totalCount
    edges {{
      node {{
        id
        firstName
        email
        dateOfBirth
      }}
    }}
  }}
}}
"""
"""The operation a new tab opens with."""


@dataclass(frozen=True, slots=True)
class Asset:
    """A file served under ``/static/``; vendor files carry their pinned SHA-384 digest."""

    path: Path
    media_type: str
    integrity: str | None = None


VENDOR = {
    "react.production.min.js": Asset(
        NODE_MODULES / "react/umd/react.production.min.js",
        JAVASCRIPT,
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    "react-dom.production.min.js": Asset(
        NODE_MODULES / "react-dom/umd/react-dom.production.min.js",
        JAVASCRIPT,
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    "graphiql.min.js": Asset(
        NODE_MODULES / "graphiql/graphiql.min.js",
        JAVASCRIPT,
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    "graphiql.min.css": Asset(
        NODE_MODULES / "graphiql/graphiql.min.css",
        CSS,
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    "plugin-explorer.umd.js": Asset(
        NODE_MODULES / "@graphiql/plugin-explorer/dist/index.umd.js",
        JAVASCRIPT,
        "sha384-5p6hGdlOTvUy6Wf0GauxCz+xM9YB/YYvcGG+bf9msr2eyd+KVIxgRkepHgUijedJ",
    ),
    "plugin-explorer.css": Asset(
        NODE_MODULES / "@graphiql/plugin-explorer/dist/style.css",
        CSS,
        "sha384-YN9MumWidbWKuNj8VfH5ggrFvm9YqAoIOMnKYpeGL3dr7Eg1qnQ+SAqSthdNZCjz",
    ),
}
"""graphiql 3.8.3, @graphiql/plugin-explorer 3.2.5 and React 18.2.0, as pinned by
``package-lock.json``, by URL name."""

OWN = {
    "graphiql.js": Asset(STATIC / "graphiql.js", JAVASCRIPT),
    "redactions.js": Asset(STATIC / "redactions.js", JAVASCRIPT),
    "steward.css": Asset(STATIC / "steward.css", CSS),
}
"""Steward's own scripts and styles, by URL name."""

DEV_OWN = {
    "dev-session.js": Asset(STATIC / "dev-session.js", JAVASCRIPT),
    "token-bar.js": Asset(STATIC / "token-bar.js", JAVASCRIPT),
    "dev-token.js": Asset(STATIC / "dev-token.js", JAVASCRIPT),
}
"""Steward's scripts that only development mode serves: they mint and keep a token."""


def page_response(content: str, status_code: int = 200) -> Response:
    """An HTML page with :data:`PAGE_HEADERS`."""
    return HTMLResponse(content, status_code=status_code, headers=PAGE_HEADERS)


@dataclass(frozen=True, slots=True)
class DevMode:
    """What the page needs in development mode to get its own token.

    Attributes:
        path: the development token page, which mints tokens for this origin.
        scopes: the token's scopes on first load; its purpose is ``purpose``.
        purpose: the purpose of the first token.
    """

    path: str
    scopes: tuple[str, ...]
    purpose: Purpose = Purpose.CUSTOMER_SUPPORT

    def config(self) -> dict[str, Any]:
        """The page's ``config.dev``: the first token's choice and the purposes to switch to."""
        return {
            "path": self.path,
            "defaultChoice": {"scopes": list(self.scopes), "purpose": self.purpose.id},
            # Only what X-Purpose may name: third_party_sharing is consented to, not declared.
            "purposes": [{"id": p.id, "description": p.description} for p in DECLARABLE],
        }


class GraphiQL:
    """The IDE: its page (the endpoint answers a browser's GET with it) and its assets.

    Args:
        dev: development mode: the page gets, keeps and renews a token by itself.
    """

    def __init__(self, *, dev: DevMode | None = None) -> None:
        self.dev = dev
        config = {
            "url": "/graphql",
            "query": EXAMPLE_QUERY,
            # In development mode the token bar sends the token and the purpose.
            "headers": "" if dev else HEADERS_TEMPLATE,
            "dev": dev.config() if dev else None,
        }
        own = ["redactions.js", *(("dev-session.js", "token-bar.js") if dev else ()), "graphiql.js"]
        template = Template((STATIC / "graphiql.html").read_text(encoding="utf-8"))
        self.html = template.substitute(
            config=html.escape(json.dumps(config), quote=True),
            stylesheets="\n    ".join(
                _tags(VENDOR[name], f"/static/vendor/{name}")
                for name in ("graphiql.min.css", "plugin-explorer.css")
            ),
            scripts="\n    ".join(
                [
                    *(
                        _tags(VENDOR[name], f"/static/vendor/{name}")
                        for name in (
                            "react.production.min.js",
                            "react-dom.production.min.js",
                            "graphiql.min.js",
                            "plugin-explorer.umd.js",
                        )
                    ),
                    *(_tags(_own(name), f"/static/{name}") for name in own),
                ]
            ),
        )

    async def page(self, _request: Request) -> Response:
        """The GraphiQL page."""
        return page_response(self.html)

    def routes(self) -> list[BaseRoute]:
        """``/static/vendor/<name>`` and ``/static/<name>``: only the files listed here."""
        own = {**OWN, **(DEV_OWN if self.dev else {})}
        served: list[BaseRoute] = []
        for prefix, assets in (("/static/vendor/", VENDOR), ("/static/", own)):
            for name, asset in assets.items():
                served.append(Route(prefix + name, _serve(asset), methods=["GET", "HEAD"]))
        return served


def _own(name: str) -> Asset:
    return OWN.get(name) or DEV_OWN[name]


def _tags(asset: Asset, url: str) -> str:
    integrity = f' integrity="{asset.integrity}"' if asset.integrity else ""
    if asset.media_type == CSS:
        return f'<link rel="stylesheet" href="{url}"{integrity}>'
    return f'<script src="{url}"{integrity} defer></script>'


def _serve(asset: Asset) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(_request: Request) -> Response:
        if not asset.path.is_file():
            return PlainTextResponse(
                "GraphiQL's assets are not installed: run make (npm ci).", status_code=404
            )
        return FileResponse(asset.path, media_type=asset.media_type, headers=ASSET_HEADERS)

    return endpoint
