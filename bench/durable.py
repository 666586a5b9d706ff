"""The durable floor: the nested page's durable work alone, in a bare ASGI app (SPEC 6, v5).

One hand-written SQL statement builds the nested page's JSON (customers with addresses,
orders (5) with items, consents) in the database; the access record and its per-customer
rows are written and committed before the answer, records of concurrent requests sharing a
commit (group commit: one writer thread takes every record waiting and commits them in one
transaction). No GraphQL, no policy, no framework: the DB-API driver (sqlite3, psycopg) and
the ASGI interface. What is left between it and Steward compiled is Steward's own per-request
machinery.
"""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import make_url

from bench.bare import bare_app

PAGE = 20
ORDERS = 5
FIELDS = json.dumps(
    [
        "Customer.firstName",
        "Customer.lastName",
        "Customer.email",
        "Customer.mobilePhone",
        "Customer.addresses",
        "Customer.orders",
        "Customer.consents",
        "Address.city",
        "Address.postalCode",
        "Order.totalAmount",
        "Order.items",
        "Consent.status",
    ]
)
"""The coordinates the record names (a constant: this page always reads the same fields)."""

_SQLITE_ISO = (
    "substr({c}, 1, 10) || 'T' || CASE WHEN substr({c}, 20) IN ('', '.000000') "
    "THEN substr({c}, 12, 8) ELSE substr({c}, 12) END || '+00:00'"
)
SQLITE_PAGE = f"""
WITH page AS MATERIALIZED (
  SELECT id, first_name, last_name, email, mobile_phone FROM customer ORDER BY id LIMIT {PAGE})
SELECT json_object('data', json_object('customers', json_object('edges', json(coalesce((
  SELECT json_group_array(json_object('node', json_object(
    'id', b64('Customer:' || p.id), 'firstName', p.first_name, 'lastName', p.last_name,
    'email', p.email, 'mobilePhone', p.mobile_phone,
    'addresses', json(coalesce((SELECT json_group_array(json_object(
        'id', b64('Address:' || a.id), 'label', a.label, 'city', a.city,
        'postalCode', a.postal_code))
      FROM (SELECT * FROM address WHERE customer_id = p.id ORDER BY id) a), '[]')),
    'orders', json_object('edges', json(coalesce((SELECT json_group_array(json_object('node',
        json_object('id', b64('Order:' || o.id), 'number', o.number, 'status', o.status,
          'totalAmount', CAST(o.total_amount AS TEXT), 'currency', o.currency,
          'placedAt', {_SQLITE_ISO.format(c="o.placed_at")},
          'items', json(coalesce((SELECT json_group_array(json_object(
              'sku', i.sku, 'name', i.name, 'quantity', i.quantity,
              'unitPrice', CAST(i.unit_price AS TEXT)))
            FROM (SELECT * FROM order_item WHERE order_id = o.id ORDER BY id) i), '[]')))))
      FROM (SELECT * FROM customer_order WHERE customer_id = p.id
            ORDER BY placed_at DESC, id DESC LIMIT {ORDERS}) o), '[]'))),
    'consents', json(coalesce((SELECT json_group_array(json_object(
        'purpose', upper(c.purpose), 'status', c.status,
        'recordedAt', {_SQLITE_ISO.format(c="c.recorded_at")}))
      FROM (SELECT * FROM consent WHERE customer_id = p.id ORDER BY id) c), '[]')))))
  FROM page p), '[]'))))),
  (SELECT json_group_array(id) FROM page)
"""  # noqa: S608  # built from constants only

_PG_ISO = (
    "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
    "extract(microseconds FROM {c})::int % 1000000 <> 0 THEN to_char({c} AT TIME ZONE 'UTC', "
    "'.US') ELSE '' END || '+00:00'"
)
_PG_ID = "encode(convert_to('{kind}:' || {pk}, 'UTF8'), 'base64')"
POSTGRES_PAGE = f"""
WITH page AS MATERIALIZED (
  SELECT id, first_name, last_name, email, mobile_phone FROM customer ORDER BY id LIMIT {PAGE})
SELECT json_build_object('data', json_build_object('customers', json_build_object('edges',
  coalesce((SELECT json_agg(json_build_object('node', json_build_object(
    'id', {_PG_ID.format(kind="Customer", pk="p.id")}, 'firstName', p.first_name,
    'lastName', p.last_name, 'email', p.email, 'mobilePhone', p.mobile_phone,
    'addresses', coalesce((SELECT json_agg(json_build_object(
        'id', {_PG_ID.format(kind="Address", pk="a.id")}, 'label', a.label, 'city', a.city,
        'postalCode', a.postal_code) ORDER BY a.id)
      FROM address a WHERE a.customer_id = p.id), '[]'),
    'orders', json_build_object('edges', coalesce((SELECT json_agg(json_build_object('node',
        json_build_object('id', {_PG_ID.format(kind="Order", pk="o.id")}, 'number', o.number,
          'status', o.status, 'totalAmount', o.total_amount::text, 'currency', o.currency,
          'placedAt', {_PG_ISO.format(c="o.placed_at")},
          'items', coalesce((SELECT json_agg(json_build_object(
              'sku', i.sku, 'name', i.name, 'quantity', i.quantity,
              'unitPrice', i.unit_price::text) ORDER BY i.id)
            FROM order_item i WHERE i.order_id = o.id), '[]')))
          ORDER BY o.placed_at DESC, o.id DESC)
      FROM (SELECT * FROM customer_order WHERE customer_id = p.id
            ORDER BY placed_at DESC, id DESC LIMIT {ORDERS}) o), '[]')),
    'consents', coalesce((SELECT json_agg(json_build_object(
        'purpose', upper(c.purpose), 'status', c.status,
        'recordedAt', {_PG_ISO.format(c="c.recorded_at")}) ORDER BY c.id)
      FROM consent c WHERE c.customer_id = p.id), '[]'))) ORDER BY p.id)
  FROM page p), '[]'))))::text,
  (SELECT json_agg(id) FROM page)::text
"""  # noqa: S608  # built from constants only

SQLITE_RECORD = (
    "INSERT INTO access_record (occurred_at, client_id, subject, purpose, customer_ids, fields) "
    "VALUES (?, 'bench', 'bench', 'customer_support', ?, ?) RETURNING id"
)
SQLITE_RECORD_CUSTOMERS = (
    "INSERT INTO access_record_customer (access_record_id, customer_id) "
    "SELECT ?, CAST(value AS INTEGER) FROM json_each(?)"
)
POSTGRES_RECORD = """
WITH record AS (
  INSERT INTO access_record (occurred_at, client_id, subject, purpose, customer_ids, fields)
  VALUES (%(at)s, 'bench', 'bench', 'customer_support', %(ids)s::json, %(fields)s::json)
  RETURNING id),
customers AS (
  INSERT INTO access_record_customer (access_record_id, customer_id)
  SELECT record.id, ids.value::int FROM record, json_array_elements_text(%(ids)s::json) AS ids)
SELECT id FROM record
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Database:
    """Connections of the DB-API driver for a SQLAlchemy URL, one per thread."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        self.path = parsed.database or ""
        self.conninfo = parsed.set(drivername="postgresql").render_as_string(False)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.statements = 0

    def connection(self) -> Any:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.connect()
            self.local.connection = connection
        return connection

    def connect(self) -> Any:
        if self.sqlite:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.create_function("b64", 1, _b64, deterministic=True)
            return connection
        return psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=1)

    def count(self, statements: int) -> None:
        with self.lock:
            self.statements += statements

    def page(self) -> tuple[bytes, str]:
        """The nested page's JSON and the ids of its customers, from one statement."""
        connection = self.connection()
        cursor = connection.execute(SQLITE_PAGE if self.sqlite else POSTGRES_PAGE)
        body, ids = cursor.fetchone()
        self.count(1)
        return body.encode(), ids or "[]"


class GroupWriter:
    """The access records of concurrent requests, committed together by one writer thread.

    Each `submit` returns a future that completes once the transaction holding its record has
    committed; records that arrive while a group is written form the next group.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.pending: queue.SimpleQueue[tuple[str, Future[int]]] = queue.SimpleQueue()
        self.cpu = 0.0
        self.audit_statements = 0
        threading.Thread(target=self._run, name="group-writer", daemon=True).start()

    def submit(self, customer_ids: str) -> Future[int]:
        done: Future[int] = Future()
        self.pending.put((customer_ids, done))
        return done

    def _run(self) -> None:
        connection = self.database.connect()
        while True:
            group = [self.pending.get()]
            while not self.pending.empty():
                group.append(self.pending.get_nowait())
            start = time.thread_time()
            try:
                ids = self._write(connection, [customer_ids for customer_ids, _ in group])
            except Exception as error:  # every request of the group learns it
                if self.database.sqlite and connection.in_transaction:
                    connection.execute("ROLLBACK")
                for _, done in group:
                    done.set_exception(error)
                continue
            finally:
                self.cpu += time.thread_time() - start
            for (_, done), record_id in zip(group, ids, strict=True):
                done.set_result(record_id)

    def _write(self, connection: Any, records: list[str]) -> list[int]:
        now = datetime.now(UTC)
        ids: list[int] = []
        if self.database.sqlite:
            at = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            connection.execute("BEGIN IMMEDIATE")
            for customers in records:
                [(record_id,)] = connection.execute(SQLITE_RECORD, (at, customers, FIELDS))
                connection.execute(SQLITE_RECORD_CUSTOMERS, (record_id, customers))
                ids.append(record_id)
            connection.execute("COMMIT")
            statements = 2 + 2 * len(records)
        else:
            with connection.transaction():
                for customers in records:
                    row = connection.execute(
                        POSTGRES_RECORD, {"at": now, "ids": customers, "fields": FIELDS}
                    ).fetchone()
                    ids.append(row[0])
            statements = 2 + len(records)
        self.audit_statements += statements
        self.database.count(statements)
        return ids


def create_durable(url: str) -> Any:
    """The durable floor's ASGI app: POST /graphql answers the nested page, whatever the body;
    GET /bench/statements the benchmark's counts."""
    database = Database(url)
    writer = GroupWriter(database)
    readers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reader")

    def counts() -> bytes:
        return json.dumps(
            {
                "statements": database.statements,
                "audit_statements": writer.audit_statements,
                "audit_cpu": writer.cpu,
                "audits": 0,
            }
        ).encode()

    async def answer(path: str) -> bytes:
        if path == "/bench/statements":
            return counts()
        loop = asyncio.get_running_loop()
        body, customer_ids = await loop.run_in_executor(readers, database.page)
        await asyncio.wrap_future(writer.submit(customer_ids))
        return body

    return bare_app(answer)
