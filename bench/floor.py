"""The raw floor: one Starlette handler, direct SQL, no GraphQL — the same JSON as Steward's.

It answers only the nested page query of the benchmark (customers with addresses, orders with
items, consents), so it shows what the bytes cost without any of Steward's machinery.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import BindParameter, Engine, bindparam, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = 20
IDS: BindParameter[Any] = bindparam("ids", expanding=True)
ORDERS = 5


def _gid(kind: str, pk: int) -> str:
    return base64.b64encode(f"{kind}:{pk}".encode()).decode()


def _iso(value: Any) -> Any:
    return value if isinstance(value, str) or value is None else value.isoformat()


def nested_page(engine: Engine) -> dict[str, Any]:
    """The nested page as Steward returns it under customer_support, from direct SQL."""
    with engine.connect() as db:
        customers = db.execute(
            text(
                "SELECT id, first_name, last_name, email, mobile_phone FROM customer "
                "ORDER BY id LIMIT :n"
            ),
            {"n": PAGE},
        ).all()
        params = {"ids": [c.id for c in customers]}
        addresses = defaultdict(list)
        for a in db.execute(
            text(
                "SELECT id, customer_id, label, city, postal_code FROM address "
                "WHERE customer_id IN :ids ORDER BY customer_id, id"
            ).bindparams(IDS),
            params,
        ):
            addresses[a.customer_id].append(
                {
                    "id": _gid("Address", a.id),
                    "label": a.label,
                    "city": a.city,
                    "postalCode": a.postal_code,
                }
            )
        orders = defaultdict(list)
        order_ids = []
        for o in db.execute(
            text(
                "SELECT * FROM (SELECT id, customer_id, number, status, total_amount, currency, "
                "placed_at, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY placed_at DESC, "
                "id DESC) AS position FROM customer_order WHERE customer_id IN :ids) o "
                "WHERE position <= :orders ORDER BY customer_id, position"
            ).bindparams(IDS),
            {**params, "orders": ORDERS},
        ):
            order_ids.append(o.id)
            orders[o.customer_id].append(o)
        items = defaultdict(list)
        if order_ids:
            for i in db.execute(
                text(
                    "SELECT order_id, sku, name, quantity, unit_price FROM order_item "
                    "WHERE order_id IN :ids ORDER BY id"
                ).bindparams(IDS),
                {"ids": order_ids},
            ):
                items[i.order_id].append(
                    {
                        "sku": i.sku,
                        "name": i.name,
                        "quantity": i.quantity,
                        "unitPrice": str(i.unit_price),
                    }
                )
        consents = defaultdict(list)
        for c in db.execute(
            text(
                "SELECT customer_id, purpose, status, recorded_at FROM consent "
                "WHERE customer_id IN :ids ORDER BY customer_id, id"
            ).bindparams(IDS),
            params,
        ):
            consents[c.customer_id].append(
                {
                    "purpose": c.purpose.upper(),
                    "status": c.status,
                    "recordedAt": _iso(_utc(c.recorded_at)),
                }
            )
    edges = []
    for c in customers:
        edges.append(
            {
                "node": {
                    "id": _gid("Customer", c.id),
                    "firstName": c.first_name,
                    "lastName": c.last_name,
                    "email": c.email,
                    "mobilePhone": c.mobile_phone,
                    "addresses": addresses[c.id],
                    "orders": {
                        "edges": [
                            {
                                "node": {
                                    "id": _gid("Order", o.id),
                                    "number": o.number,
                                    "status": o.status,
                                    "totalAmount": str(o.total_amount),
                                    "currency": o.currency,
                                    "placedAt": _iso(_utc(o.placed_at)),
                                    "items": items[o.id],
                                }
                            }
                            for o in orders[c.id]
                        ]
                    },
                    "consents": consents[c.id],
                }
            }
        )
    return {"data": {"customers": {"edges": edges}}}


def _utc(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_floor(engine: Engine) -> Starlette:
    """The floor application: POST /graphql answers the nested page, whatever the body."""

    async def handle(request: Request) -> Response:
        await request.body()
        from anyio import to_thread

        body = await to_thread.run_sync(nested_page, engine)
        return Response(orjson.dumps(body), media_type="application/json")

    return Starlette(routes=[Route("/graphql", handle, methods=["POST"])])
