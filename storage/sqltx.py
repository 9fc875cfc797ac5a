"""The Tx operations written once in SQL that SQLite and PostgreSQL both run.

It is long (about 490 lines) because it is every query of the protocol in one place; split, the
two backends would drift apart again.

A backend subclasses ``SqlTx`` and supplies four primitives (``fetch_one``, ``fetch_all``,
``execute`` returning the affected row count, ``execute_many``) that take ``?`` placeholders,
plus two small dialect hooks: ``serialize`` (make concurrent transactions that touch the same
key take turns; SQLite already runs one write transaction at a time) and ``BINARY`` (the
collation clause that orders text by code point, as SQLite does by default).  Every decision
is one conditional statement (``UPDATE ... WHERE status = ...``, ``INSERT ... ON CONFLICT``),
so it holds under READ COMMITTED with several processes as well as under SQLite's lock.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.models import Conversations, Event, Order, OutMessage, Worker, claim_seconds
from storage.repository import BINDINGS_REV, ORDER_TIME_COLUMNS

NULLABLE = ORDER_TIME_COLUMNS + ("rating", "taker_id", "stale_reminded_at", "escalated_at", "assigned_at", "category")


@dataclass(frozen=True)
class MessageGate:
    """What ``begin_message`` found out about a new message, in the statement that claimed it."""

    bindings_rev: str | None  # the bindings' revision: reload them when it changed


# Order.claim_seconds in SQL (of orders aliased ``o``; the callers keep claims only: assigned_at NULL)
CLAIM_SECONDS = "CASE WHEN o.taken_at > o.dispatched_at THEN o.taken_at - o.dispatched_at ELSE 0.0 END"


class SqlTx:
    BINARY = ""  # appended to text columns in ORDER BY

    def __init__(self) -> None:
        self._later: list[tuple[str, tuple[Any, ...]]] = []

    def later(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Queue a write whose outcome nobody reads (an audit event, an outbox row): it goes to the
        database with this transaction's next statement, or with its COMMIT, in the same call."""
        self._later.append((sql, tuple(args)))

    def take_later(self) -> list[tuple[str, tuple[Any, ...]]]:
        later, self._later = self._later, []
        return later

    # primitives, supplied by the backend ------------------------------------------------
    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        raise NotImplementedError

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it inserted, updated or deleted."""
        raise NotImplementedError

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def serialize(self, key: str) -> None:
        """Wait until no other open transaction holds ``key``; hold it until this one ends."""

    # processed messages -------------------------------------------------------------
    async def is_processed(self, message_id: str) -> bool:
        # Two instances in one group both receive a message: the second waits for the first
        # one's transaction and then finds the message processed (instead of failing late on
        # the primary key of ``processed``).
        await self.serialize(f"message:{message_id}")
        return await self.was_processed(message_id)

    async def was_processed(self, message_id: str) -> bool:
        """Whether the message's processing was committed (no waiting for a concurrent one)."""
        return await self.fetch_one("SELECT 1 AS hit FROM processed WHERE message_id = ?", (message_id,)) is not None

    async def mark_processed(self, message_id: str, at: float) -> None:
        self.later("INSERT INTO processed (message_id, at) VALUES (?, ?)", (message_id, at))

    async def begin_message(self, message_id: str, at: float, sender_key: str) -> MessageGate | None:
        """Mark ``message_id`` processed as this transaction's first statement, unless it already
        was (committed, or by a concurrent transaction, which this one waits for on the key; if that
        one rolls back, this one gets the id) or ``sender_key`` (a ``bot_account:`` meta key: the
        message is another instance's) is known: then None.  The same statement reads the
        bindings' revision."""
        row = await self.fetch_one(
            "INSERT INTO processed (message_id, at) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = ?) "
            "ON CONFLICT (message_id) DO NOTHING RETURNING (SELECT value FROM meta WHERE key = ?) AS rev",
            (message_id, at, sender_key, BINDINGS_REV),
        )
        return None if row is None else MessageGate(row["rev"])

    # pruning (bot/prune.py): small batches, so no transaction holds the write lock for long
    async def prune_sent_outbox(self, before: float, limit: int) -> int:
        return await self.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status = 'sent' AND sent_at < ? "
            "ORDER BY sent_at LIMIT ?)", (before, limit))

    async def prune_processed(self, before: float, limit: int) -> int:
        return await self.execute(
            "DELETE FROM processed WHERE message_id IN (SELECT message_id FROM processed WHERE at < ? ORDER BY at LIMIT ?)",
            (before, limit))

    # the intake journal (migration 008): message events received, not yet handled ---------
    async def journal_add(self, instance: str, message_ids: Sequence[str], at: float) -> None:
        await self.execute_many(
            "INSERT INTO inbox (message_id, instance, received_at) VALUES (?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
            [(m, instance, at) for m in message_ids],
        )

    async def journal_remove(self, message_ids: Sequence[str]) -> None:
        await self.execute_many("DELETE FROM inbox WHERE message_id = ?", [(m,) for m in message_ids])

    async def journal_pending(self, instance: str, limit: int) -> list[str]:
        rows = await self.fetch_all(
            "SELECT message_id FROM inbox WHERE instance = ? ORDER BY received_at, message_id LIMIT ?",
            (instance, limit),
        )
        return [r["message_id"] for r in rows]

    # orders ---------------------------------------------------------------------------
    async def next_order_no(self, community: str) -> int:
        # The counter row stays locked until this transaction ends: concurrent intake for one
        # community takes turns, and a rollback gives the number back (no gaps).
        row = await self.fetch_one(
            "INSERT INTO counters (community, last_no) VALUES (?, 1) "
            "ON CONFLICT (community) DO UPDATE SET last_no = counters.last_no + 1 RETURNING last_no",
            (community,),
        )
        assert row is not None
        return int(row["last_no"])

    async def _insert(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        row = await self.fetch_one(f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING *", tuple(values.values()))
        assert row is not None
        return row

    async def insert_order(self, values: dict[str, Any]) -> Order:
        phones = json.dumps(list(values.get("phones", ())), ensure_ascii=False)
        return Order.from_row(await self._insert("orders", {**values, "phones": phones}))

    async def insert_numbered_order(self, values: dict[str, Any]) -> Order:
        """Insert an order under the community's next number (``values`` without ``no``): the
        counter's upsert rides along with the INSERT, so both cost one call."""
        self.later(
            "INSERT INTO counters (community, last_no) VALUES (?, 1) "
            "ON CONFLICT (community) DO UPDATE SET last_no = counters.last_no + 1", (values["community"],))
        phones = json.dumps(list(values.get("phones", ())), ensure_ascii=False)
        values = {**values, "phones": phones}
        cols = ", ".join([*values, "no"])
        marks = ", ".join("?" for _ in values)
        row = await self.fetch_one(
            f"INSERT INTO orders ({cols}) VALUES ({marks}, (SELECT last_no FROM counters WHERE community = ?)) "
            "RETURNING *", (*values.values(), values["community"]))
        assert row is not None
        return Order.from_row(row)

    async def _with_takers(self, orders: list[Order]) -> list[Order]:
        """Fill in ``taker`` of every order that has one: one query for all of them."""
        ids = sorted({o.taker_id for o in orders if o.taker_id is not None})
        workers: dict[int, Worker] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = await self.fetch_all(f"SELECT * FROM workers WHERE id IN ({', '.join('?' for _ in chunk)})", chunk)
            workers.update((r["id"], Worker.from_row(r)) for r in rows)
        for order in orders:
            if order.taker_id is not None:
                order.taker = workers.get(order.taker_id)
        return orders

    async def _with_taker(self, order: Order | None) -> Order | None:
        if order is not None and order.taker_id is not None:
            order.taker = await self.get_worker(order.taker_id)
        return order

    async def get_order(self, community: str, no: int) -> Order | None:
        row = await self.fetch_one("SELECT * FROM orders WHERE community = ? AND no = ?", (community, no))
        return await self._with_taker(Order.from_row(row) if row else None)

    async def get_order_by_id(self, order_id: int) -> Order | None:
        row = await self.fetch_one("SELECT * FROM orders WHERE id = ?", (order_id,))
        return await self._with_taker(Order.from_row(row) if row else None)

    async def update_order(
        self, order_id: int, values: dict[str, Any], *, expect_status: Sequence[str] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> bool:
        sets = ", ".join(f"{k} = ?" for k in values)
        sql = f"UPDATE orders SET {sets} WHERE id = ?"
        args: list[Any] = [*values.values(), order_id]
        if expect_status:
            sql += f" AND status IN ({', '.join('?' for _ in expect_status)})"
            args += list(expect_status)
        for column, value in (expect or {}).items():
            if value is None:
                sql += f" AND {column} IS NULL"
            else:
                sql += f" AND {column} = ?"
                args.append(value)
        return await self.execute(sql, args) == 1

    async def claim_order(self, order_id: int, worker_id: int, at: float,
                          max_active: int | None = None) -> Order | None:
        claim = ("UPDATE orders SET status = 'taken', taker_id = ?, taken_at = ?, assigned_at = NULL "
                 "WHERE id = ? AND status = 'dispatched'")
        if max_active is None:
            row = await self.fetch_one(claim + " RETURNING *", (worker_id, at, order_id))
        else:
            # The worker's limit is part of the one conditional update.  Two instances claiming
            # two orders for the same worker take turns on the worker's key, so the second
            # statement starts after the first transaction ended and counts its order (under READ
            # COMMITTED each statement sees what was committed when it started).
            await self.serialize(f"worker:{worker_id}")
            row = await self.fetch_one(
                claim + " AND (SELECT COUNT(*) FROM orders AS mine WHERE mine.taker_id = ? AND mine.status = 'taken')"
                " < ? RETURNING *", (worker_id, at, order_id, worker_id, max_active))
        return Order.from_row(row) if row is not None else None

    async def find_orders(
        self,
        community: str | None = None,
        *,
        statuses: Sequence[str] | None = None,
        grid: str | None = None,
        taker_id: int | None = None,
        resident_id: str | None = None,
        category: str | None = None,
        time_column: str = "created_at",
        start: float | None = None,
        end: float | None = None,
        is_null: Sequence[str] = (),
        before_no: int | None = None,
        newest_first: bool = False,
        limit: int | None = None,
        takers: bool = True,
    ) -> list[Order]:
        if time_column not in ORDER_TIME_COLUMNS:
            raise ValueError(f"not a time column: {time_column}")
        if unknown := set(is_null) - set(NULLABLE):
            raise ValueError(f"not a nullable order column: {sorted(unknown)}")
        where, args = [], []
        for column, value in (("community", community), ("grid", grid), ("taker_id", taker_id),
                              ("resident_id", resident_id), ("category", category)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args += list(statuses)
        if start is not None:
            where.append(f"{time_column} >= ?")
            args.append(start)
        if end is not None:
            where.append(f"{time_column} < ?")
            args.append(end)
        where += [f"{column} IS NULL" for column in is_null]
        if before_no is not None:
            where.append("no < ?")
            args.append(before_no)
        sql = "SELECT * FROM orders" + (" WHERE " + " AND ".join(where) if where else "")
        # one community: by number alone, so PostgreSQL reads (community, no) in index order and stops
        # at the LIMIT (its text collation differs from the index's: ordering by the column would sort)
        order = "no" if community is not None else f"community{self.BINARY}, no"
        sql += f" ORDER BY {order}" + (" DESC" if newest_first else "")
        sql += f" LIMIT {int(limit)}" if limit else ""
        orders = [Order.from_row(r) for r in await self.fetch_all(sql, args)]
        return await self._with_takers(orders) if takers else orders

    async def worker_activity(self, community: str, done_start: float, done_end: float,
                              claims_since: float) -> dict[int, dict[str, Any]]:
        """Per worker of the community who has any: ``{"active": taken orders now, "done":
        completed in [done_start, done_end), "median_claim": median claim seconds of the claims
        since ``claims_since`` or None}``; three index range reads, never the community's whole
        history, and aggregated by the database."""
        figures: dict[int, dict[str, Any]] = {}

        def of(worker_id: int) -> dict[str, Any]:
            return figures.setdefault(worker_id, {"active": 0, "done": 0, "median_claim": None})

        for r in await self.fetch_all(
                "SELECT taker_id, COUNT(*) AS n FROM orders WHERE community = ? AND status = 'taken' "
                "AND taker_id IS NOT NULL GROUP BY taker_id", (community,)):
            of(r["taker_id"])["active"] = int(r["n"])
        for r in await self.fetch_all(
                "SELECT taker_id, COUNT(*) AS n FROM orders WHERE community = ? AND done_at >= ? AND done_at < ? "
                "AND status = 'done' AND taker_id IS NOT NULL GROUP BY taker_id", (community, done_start, done_end)):
            of(r["taker_id"])["done"] = int(r["n"])
        for worker_id, median in (await self._median_claims(
                "FROM orders o WHERE o.community = ? AND o.taken_at >= ?", (community, claims_since))).items():
            of(worker_id)["median_claim"] = median
        return figures

    # the sweep's stale check: literal predicates, so both engines use the partial index
    # orders_unreminded (migration 011), which holds only the taken orders not yet reminded
    async def stale_taken(self, community: str, taken_by: float) -> list[Order]:
        """Taken orders not yet reminded, taken at or before ``taken_by``, with their takers."""
        rows = await self.fetch_all(
            "SELECT * FROM orders WHERE community = ? AND status = 'taken' AND stale_reminded_at IS NULL "
            "AND taken_at <= ? ORDER BY taken_at", (community, taken_by))
        return await self._with_takers([Order.from_row(r) for r in rows])

    async def first_unreminded_taken_at(self, community: str) -> float | None:
        row = await self.fetch_one(
            "SELECT MIN(taken_at) AS first FROM orders WHERE community = ? AND status = 'taken' "
            "AND stale_reminded_at IS NULL AND taken_at IS NOT NULL", (community,))
        return float(row["first"]) if row and row["first"] is not None else None

    async def count_active(self, worker_id: int) -> int:
        row = await self.fetch_one("SELECT COUNT(*) AS n FROM orders WHERE taker_id = ? AND status = 'taken'",
                                   (worker_id,))
        return int(row["n"]) if row else 0

    # reports: aggregates over one community's orders in [start, end); each tally count is one
    # range scan of a (community, <time>) index (migrations 003, 009) -----------------------
    async def tally_counts(self, community: str, start: float, end: float, *,
                           grid: str | None = None) -> dict[str, int]:
        # taken: claimed in the market group (接N); assigned: given by staff (指派), counted apart
        columns = {"posted": "created_at", "dispatched": "dispatched_at", "taken": "taken_at", "assigned": "taken_at",
                   "done": "done_at", "cancelled": "cancelled_at"}
        in_grid = " AND grid = ?" if grid is not None else ""
        also = {"posted": " AND status NOT IN ('pending_review', 'dismissed')",  # not (yet) needs: status.NOT_NEEDS
                "taken": " AND assigned_at IS NULL", "assigned": " AND assigned_at IS NOT NULL"}
        parts = [f"(SELECT COUNT(*) FROM orders WHERE community = ? AND {column} >= ? AND {column} < ?{in_grid}"
                 f"{also.get(key, '')}) AS {key}" for key, column in columns.items()]
        args = [community, start, end] + ([grid] if grid is not None else [])
        row = await self.fetch_one("SELECT " + ", ".join(parts), args * len(columns))
        assert row is not None
        return {key: int(row[key]) for key in columns}

    async def tally_groups(self, community: str, column: str, start: float, end: float, *,
                           grid: str | None = None) -> list[tuple[str | None, int, int]]:
        if column not in ("category", "grid"):
            raise ValueError(f"cannot group orders by {column!r}")
        sql = (f"SELECT {column} AS value, COUNT(*) AS n, MIN(no) AS first FROM orders "
               "WHERE community = ? AND created_at >= ? AND created_at < ? "
               "AND status NOT IN ('pending_review', 'dismissed')")
        args: list[Any] = [community, start, end]
        if grid is not None:
            sql, args = sql + " AND grid = ?", args + [grid]
        rows = await self.fetch_all(sql + f" GROUP BY {column}", args)
        return [(r["value"], int(r["n"]), int(r["first"])) for r in rows]

    async def claim_durations(self, community: str, start: float, end: float, *,
                              grid: str | None = None) -> list[tuple[str | None, float | None, bool]]:
        sql = ("SELECT w.name AS name, o.taken_at AS taken_at, o.dispatched_at AS dispatched_at, "
               "o.assigned_at AS assigned_at FROM orders o "
               "LEFT JOIN workers w ON w.id = o.taker_id "
               "WHERE o.community = ? AND o.taken_at >= ? AND o.taken_at < ?")
        args: list[Any] = [community, start, end]
        if grid is not None:
            sql, args = sql + " AND o.grid = ?", args + [grid]
        rows = await self.fetch_all(sql + " ORDER BY o.no", args)
        return [(r["name"], claim_seconds(r["taken_at"], r["dispatched_at"], r["assigned_at"]),
                 r["assigned_at"] is not None) for r in rows]

    async def ranking_rows(self, community: str, start: float, end: float, *,
                           confirmed_only: bool = False) -> list[dict[str, Any]]:
        where = ("o.community = ? AND o.status = 'done' AND o.done_at >= ? AND o.done_at < ? "
                 "AND w.status <> 'suspended'")
        if confirmed_only:
            where += " AND (o.rating >= 3 OR (o.rating IS NULL AND o.followup_sent_at IS NOT NULL))"
        args = (community, start, end)
        # done, the ratings and the claim times are of the orders the worker claimed (接N); the ones
        # staff assigned (指派) are only counted, apart.  The average is computed here from the sum
        # and the count of ratings, so both backends give the same float (PostgreSQL's AVG is a numeric).
        claimed = "o.assigned_at IS NULL"
        rows = await self.fetch_all(
            "SELECT w.id AS worker_id, w.name AS name, w.team AS team, "
            f"SUM(CASE WHEN {claimed} THEN 1 ELSE 0 END) AS done, "
            f"SUM(CASE WHEN {claimed} THEN 0 ELSE 1 END) AS assigned, "
            f"SUM(CASE WHEN {claimed} THEN o.rating END) AS rating_sum, "
            f"COUNT(CASE WHEN {claimed} THEN o.rating END) AS rated "
            f"FROM orders o JOIN workers w ON w.id = o.taker_id WHERE {where} GROUP BY w.id, w.name, w.team", args)
        medians = await self._median_claims(f"FROM orders o JOIN workers w ON w.id = o.taker_id WHERE {where}", args)
        return [{"worker_id": r["worker_id"], "name": r["name"], "team": r["team"], "done": int(r["done"]),
                 "assigned": int(r["assigned"]),
                 "rating": int(r["rating_sum"]) / int(r["rated"]) if r["rated"] else None,
                 "median_claim": medians.get(r["worker_id"])} for r in rows]

    async def chart_counts(self, community: str, start: float, end: float, claim_limits: Sequence[float],
                           day_edges: Sequence[float]) -> dict[str, Any]:
        """The stats page's charts, counted by the database (index ranges; no order reaches Python):
        ``per_worker``: [(name, orders done in [start, end))], most first, at most 15; ``claims``:
        claims taken in the range per bucket (bucket i: claim seconds below ``claim_limits[i]``
        and not below the one before); ``assigned``: orders staff assigned in the range;
        ``posted`` / ``done``: orders created / completed on each day between ``day_edges``."""
        per_worker = await self.fetch_all(
            "SELECT w.name AS name, COUNT(*) AS n FROM orders o JOIN workers w ON w.id = o.taker_id "
            "WHERE o.community = ? AND o.status = 'done' AND o.done_at >= ? AND o.done_at < ? "
            "GROUP BY w.name ORDER BY n DESC, MIN(o.no) LIMIT 15", (community, start, end))
        finite = [limit for limit in claim_limits if limit != float("inf")]
        bucket = "CASE " + " ".join(f"WHEN {CLAIM_SECONDS} < ? THEN {i}" for i in range(len(finite))) + \
            f" ELSE {len(finite)} END"
        claims = await self.fetch_all(
            f"SELECT {bucket} AS b, COUNT(*) AS n FROM orders o WHERE o.community = ? AND o.taken_at >= ? "
            "AND o.taken_at < ? AND o.assigned_at IS NULL AND o.dispatched_at IS NOT NULL GROUP BY b",
            (*finite, community, start, end))
        assigned = await self.fetch_one(
            "SELECT COUNT(*) AS n FROM orders WHERE community = ? AND taken_at >= ? AND taken_at < ? "
            "AND assigned_at IS NOT NULL", (community, start, end))
        by_day = {}
        for column in ("created_at", "done_at"):
            day = "CASE " + " ".join(f"WHEN {column} < ? THEN {i}" for i in range(len(day_edges) - 2)) + \
                f" ELSE {len(day_edges) - 2} END"
            rows = await self.fetch_all(
                f"SELECT {day} AS d, COUNT(*) AS n FROM orders WHERE community = ? AND {column} >= ? AND {column} < ? "
                "GROUP BY d", (*day_edges[1:-1], community, day_edges[0], day_edges[-1]))
            counts = {int(r["d"]): int(r["n"]) for r in rows}
            by_day[column] = [counts.get(i, 0) for i in range(len(day_edges) - 1)]
        found = {int(r["b"]): int(r["n"]) for r in claims}
        return {"per_worker": [(r["name"], int(r["n"])) for r in per_worker],
                "claims": [found.get(i, 0) for i in range(len(claim_limits))],
                "assigned": int(assigned["n"]) if assigned else 0,
                "posted": by_day["created_at"], "done": by_day["done_at"]}

    async def _median_claims(self, source: str, args: Sequence[Any]) -> dict[int, float]:
        """The median claim seconds (``claim_seconds``) per taker of the claimed orders of ``source``
        (``FROM orders o ... WHERE ...``), computed by the database: the rows never reach Python."""
        rows = await self.fetch_all(
            "SELECT taker_id, AVG(s) AS median FROM ("
            " SELECT taker_id, s, ROW_NUMBER() OVER (PARTITION BY taker_id ORDER BY s) AS rn,"
            " COUNT(*) OVER (PARTITION BY taker_id) AS c FROM ("
            f"  SELECT o.taker_id AS taker_id, {CLAIM_SECONDS} AS s "
            f" {source} AND o.assigned_at IS NULL AND o.taken_at IS NOT NULL AND o.dispatched_at IS NOT NULL"
            "  AND o.taker_id IS NOT NULL) AS claims"
            ") AS ranked WHERE rn IN ((c + 1) / 2, (c + 2) / 2) GROUP BY taker_id", args)
        return {r["taker_id"]: float(r["median"]) for r in rows}

    # audit ----------------------------------------------------------------------------
    async def add_event(
        self, order_id: int | None, community: str, at: float, actor: str, kind: str, detail: str = ""
    ) -> None:
        self.later("INSERT INTO events (order_id, community, at, actor, kind, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   (order_id, community, at, actor, kind, detail))

    async def count_events(self, kind: str, actor: str, since: float) -> int:
        row = await self.fetch_one("SELECT COUNT(*) AS n FROM events WHERE kind = ? AND actor = ? AND at >= ?",
                                   (kind, actor, since))
        return int(row["n"]) if row else 0

    async def events_for(self, order_id: int) -> list[Event]:
        rows = await self.fetch_all("SELECT * FROM events WHERE order_id = ? ORDER BY id", (order_id,))
        return [Event(**r) for r in rows]

    # identity -------------------------------------------------------------------------
    async def bindings(self) -> list[dict[str, Any]]:
        return await self.fetch_all("SELECT * FROM bindings ORDER BY scope, name")

    async def _bump_bindings(self) -> None:
        await self.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
            "SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)", (BINDINGS_REV,))

    async def set_binding(self, scope: str, name: str, contact_id: str, at: float, by: str) -> None:
        await self._bump_bindings()
        key = f"{scope}\t{name}"
        await self.execute("DELETE FROM bindings WHERE person = ?", (key,))
        await self.execute("INSERT INTO bindings (person, scope, name, contact_id, bound_at, bound_by) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (key, scope, name, contact_id, at, by))

    async def remove_binding(self, scope: str, name: str) -> bool:
        removed = await self.execute("DELETE FROM bindings WHERE person = ?", (f"{scope}\t{name}",)) > 0
        if removed:
            await self._bump_bindings()
        return removed

    async def add_bind_code(self, values: dict[str, Any]) -> None:
        if values["kind"] == "person":
            await self.execute("DELETE FROM bind_codes WHERE kind = 'person' AND scope = ? AND name = ?",
                               (values["scope"], values["name"]))
        else:
            await self.execute("DELETE FROM bind_codes WHERE kind = 'worker' AND worker_id = ?", (values["worker_id"],))
        await self._insert("bind_codes", values)

    async def take_bind_code(self, code_hash: str, now: float) -> dict[str, Any] | None:
        """The code's row, used up (deleted); None when there is no such code or it expired."""
        row = await self.fetch_one("SELECT * FROM bind_codes WHERE code_hash = ?", (code_hash,))
        if row is None:
            return None
        await self.execute("DELETE FROM bind_codes WHERE code_hash = ?", (code_hash,))
        return row if row["expires_at"] > now else None

    async def bind_worker(self, worker_id: int, contact_id: str, at: float) -> None:
        await self.execute("UPDATE workers SET wechat = ?, bound_at = ? WHERE id = ?", (contact_id, at, worker_id))

    async def unbind_worker(self, worker_id: int) -> None:
        await self.execute("UPDATE workers SET bound_at = NULL WHERE id = ?", (worker_id,))

    # dashboard logins and sessions ----------------------------------------------------
    async def add_web_login(self, values: dict[str, Any]) -> None:
        await self.execute("DELETE FROM web_logins WHERE expires_at < ?", (values["created_at"],))
        await self._insert("web_logins", values)

    async def web_login(self, login_id: str) -> dict[str, Any] | None:
        return await self.fetch_one("SELECT * FROM web_logins WHERE id = ?", (login_id,))

    async def count_web_login_try(self, login_id: str) -> None:
        await self.execute("UPDATE web_logins SET tries = tries + 1 WHERE id = ?", (login_id,))

    async def remove_web_login(self, login_id: str) -> None:
        await self.execute("DELETE FROM web_logins WHERE id = ?", (login_id,))

    async def add_web_session(self, values: dict[str, Any]) -> None:
        await self.execute("DELETE FROM web_sessions WHERE seen_at < ? OR ended_at < ?",
                           (values["created_at"] - 86400 * 2, values["created_at"] - 86400))
        await self._insert("web_sessions", values)

    async def web_session(self, sid_hash: str) -> dict[str, Any] | None:
        return await self.fetch_one("SELECT * FROM web_sessions WHERE sid_hash = ? AND ended_at IS NULL", (sid_hash,))

    async def touch_web_session(self, sid_hash: str, at: float) -> None:
        await self.execute("UPDATE web_sessions SET seen_at = ? WHERE sid_hash = ?", (at, sid_hash))

    async def end_web_session(self, sid_hash: str, at: float) -> None:
        await self.execute("UPDATE web_sessions SET ended_at = ? WHERE sid_hash = ? AND ended_at IS NULL",
                           (at, sid_hash))

    # intake labels --------------------------------------------------------------------
    async def add_intake_label(self, values: dict[str, Any]) -> None:
        await self._insert("intake_labels", {**values, "need": int(bool(values["need"]))})

    async def intake_labels(self, community: str | None = None, *, since: float | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM intake_labels WHERE 1 = 1", []
        if community is not None:
            sql, args = sql + " AND community = ?", [*args, community]
        if since is not None:
            sql, args = sql + " AND labelled_at >= ?", [*args, since]
        rows = await self.fetch_all(sql + " ORDER BY id", args)
        return [{**r, "need": bool(r["need"])} for r in rows]

    # workers --------------------------------------------------------------------------
    async def find_worker(self, community: str, *, wechat: str | None = None, name: str | None = None) -> Worker | None:
        for column, value in (("wechat", wechat), ("name", name)):
            if value is not None:
                row = await self.fetch_one(f"SELECT * FROM workers WHERE community = ? AND {column} = ?",
                                           (community, value))
                if row:
                    return Worker.from_row(row)
        return None

    async def get_worker(self, worker_id: int) -> Worker | None:
        row = await self.fetch_one("SELECT * FROM workers WHERE id = ?", (worker_id,))
        return Worker.from_row(row) if row else None

    async def add_worker(self, values: dict[str, Any]) -> Worker:
        skills = json.dumps(list(values.get("skills", ())), ensure_ascii=False)
        return Worker.from_row(await self._insert("workers", {**values, "skills": skills}))

    async def add_worker_if_absent(self, values: dict[str, Any]) -> bool:
        """Insert a worker unless the community already has one of that name; True if inserted.

        One statement, so instances seeding the same roster at the same moment never collide
        (the loser waits for the winner's row, then inserts nothing)."""
        values = dict(values)
        values["skills"] = json.dumps(list(values.get("skills", ())), ensure_ascii=False)
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        return await self.execute(
            f"INSERT INTO workers ({cols}) VALUES ({marks}) ON CONFLICT (community, name) DO NOTHING",
            tuple(values.values()),
        ) == 1

    async def update_worker(self, worker_id: int, values: dict[str, Any]) -> None:
        values = dict(values)
        if "skills" in values:
            values["skills"] = json.dumps(list(values["skills"]), ensure_ascii=False)
        sets = ", ".join(f"{k} = ?" for k in values)
        await self.execute(f"UPDATE workers SET {sets} WHERE id = ?", (*values.values(), worker_id))

    async def list_workers(self, community: str | None = None) -> list[Worker]:
        if community is None:
            rows = await self.fetch_all(f"SELECT * FROM workers ORDER BY community{self.BINARY}, id")
        else:
            rows = await self.fetch_all("SELECT * FROM workers WHERE community = ? ORDER BY id", (community,))
        return [Worker.from_row(r) for r in rows]

    # outbox ---------------------------------------------------------------------------
    async def enqueue(self, message: OutMessage, at: float) -> None:
        """Queue ``message`` (no statement yet: ``later``).  One with a ``coalesce_key`` is its own row
        too: the sender merges the pending rows of a key into one message when it claims the oldest
        (``claim_outbox``), so hundreds of claimers joining one notice never wait on each other's
        row lock."""
        # (the cap on notices, max_notices, is applied when one is claimed to be sent: a late claim
        # costs one queued INSERT and no read)
        self.later(
            "INSERT INTO outbox (created_at, room, contact, text, mentions, coalesce_key, fallback, next_at, "
            "notice_group, mention_cap, more_text, bulk, max_notices) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (at, message.room, message.contact, message.text,
             json.dumps(list(message.mentions), ensure_ascii=False), message.coalesce_key,
             json.dumps(message.fallback, ensure_ascii=False) if message.fallback else None, at,
             message.coalesce_key, message.mention_cap, message.more_text, int(message.bulk), message.max_notices),
        )

    async def pending_outbox(self, now: float, limit: int = 50) -> list[OutMessage]:
        """Every due pending message, oldest first, claimed or not (to look at, not to send)."""
        rows = await self.fetch_all(
            "SELECT * FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY id LIMIT ?", (now, limit)
        )
        return [out_message(r) for r in rows]

    async def claim_outbox(
        self,
        instance: str,
        now: float,
        lease: float,
        conversations: Conversations | None = None,
        *,
        limit: int = 1,
        skip: Conversations | None = None,
        orphans_due_before: float | None = None,
        sending: bool = False,
    ) -> list[OutMessage]:
        """Claim up to ``limit`` due messages for ``instance`` to send now; oldest first, the
        replies to people before the bulk (jobs') messages.
        ``sending``: the claim also marks the send as begun (``sending_since``, the in-doubt
        marker) and closes the message to coalescing, so the caller sends it right after commit.

        Design (several bot instances, one per WeChat account, sharing one database):

        - Reach: an instance sends only to ``conversations``, the groups its account resolved
          at login and the contacts it knows (None: any, for a single instance).  A direct
          message whose contact no instance knows would wait for ever, so once it has been due
          since ``orphans_due_before`` any instance may take it; the send then fails as
          undeliverable and the message's fallback goes out.  Group messages never do that:
          they wait for an instance that is in the group.
        - ``skip``: conversations the caller's pacing holds back right now.
        - The claim: a candidate is claimed by one conditional update, ``UPDATE outbox SET
          claimed_by = ?, claimed_until = now + lease WHERE id = ? AND status = 'pending' AND
          (claimed_until IS NULL OR claimed_until < now OR claimed_by = ?)``.  Of several
          instances racing for a row exactly one update applies (PostgreSQL re-checks the
          condition after waiting for the row lock; SQLite runs one writer at a time); losers
          move on to the next candidate.  An instance may take back its own claims: each process
          on a shared database has a name of its own, and a restarted SQLite bot (the only
          process on its file) keeps its name, so it resends at once what it was sending when
          it crashed.
        - The lease: the sender finishes (mark_sent, mark_retry) or gives up (release_outbox)
          well inside it.  If the instance dies holding a claim, the lease runs out and a
          survivor that reaches the conversation sends the message.  Delivery stays at least
          once: a sender that dies after the gateway accepted a message but before mark_sent
          leaves it to be sent again.

        The claim is the only new step between pending and sent, so an exactly-once 'sending'
        state (marked before the send, resolved after a crash) fits in after it.
        """
        where = ["status = 'pending'", "merged_into IS NULL", "next_at <= ?",
                 "(claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)"]
        args: list[Any] = [now, now, instance]
        if conversations is not None:
            rooms, room_args = _in_list("room", conversations.rooms)
            contacts, contact_args = _in_list("contact", conversations.contacts)
            if orphans_due_before is not None:
                contacts = f"({contacts} OR next_at <= ?)"
                contact_args.append(orphans_due_before)
            where.append(f"((room IS NOT NULL AND {rooms}) OR (room IS NULL AND {contacts}))")
            args += room_args + contact_args
        if skip is not None and skip.rooms:
            rooms, room_args = _in_list("room", skip.rooms)
            where.append(f"(room IS NULL OR NOT {rooms})")
            args += room_args
        if skip is not None and skip.contacts:
            contacts, contact_args = _in_list("contact", skip.contacts)
            where.append(f"(room IS NOT NULL OR NOT {contacts})")
            args += contact_args
        candidates = await self.fetch_all(
            f"SELECT id FROM outbox WHERE {' AND '.join(where)} ORDER BY bulk, id LIMIT ?", (*args, limit + 10)
        )
        claimed: list[OutMessage] = []
        # sending: from here on a new late notice starts a new message (mentions merged into this
        # one while it is on the wire would be marked sent without being sent)
        also = ", sending_since = ?, coalesce_key = NULL" if sending else ""
        for candidate in candidates:
            row = await self.fetch_one(
                f"UPDATE outbox SET claimed_by = ?, claimed_until = ?{also} WHERE id = ? AND status = 'pending' "
                "AND merged_into IS NULL AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?) RETURNING *",
                (instance, now + lease, *((now,) if sending else ()), candidate["id"], now, instance),
            )
            if row is not None:
                if sending and row["notice_group"] and row["merged_into"] is None:
                    # one sender at a time decides about a group's next notice (PostgreSQL: an
                    # advisory lock; the count below then sees the notice another sender claimed)
                    await self.serialize(f"notice:{row['notice_group']}")
                    if row["max_notices"] is not None and await self._notices_out(row) >= row["max_notices"]:
                        await self._drop_notice(row, now)
                        continue
                    row = await self._merge_notice(row)
                claimed.append(out_message(row))
                if len(claimed) == limit:
                    break
        return claimed

    async def _notices_out(self, head: dict[str, Any]) -> int:
        row = await self.fetch_one(
            "SELECT COUNT(*) AS n FROM outbox WHERE notice_group = ? AND merged_into IS NULL AND id <> ? "
            "AND (status = 'sent' OR sending_since IS NOT NULL)", (head["notice_group"], head["id"]))
        return int(row["n"]) if row else 0

    async def _drop_notice(self, head: dict[str, Any], now: float) -> None:
        """Enough notices of the group went out: this one (and what would join it) is folded into
        the last of them, unsent: marked sent with it (merged_into), so it is never sent."""
        last = await self.fetch_one(
            "SELECT MAX(id) AS id FROM outbox WHERE notice_group = ? AND merged_into IS NULL AND id <> ? "
            "AND (status = 'sent' OR sending_since IS NOT NULL)", (head["notice_group"], head["id"]))
        await self.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, merged_into = ?, sending_since = NULL, coalesce_key = NULL "
            "WHERE id = ? OR (coalesce_key = ? AND status = 'pending' AND merged_into IS NULL)",
            (now, last["id"] if last else head["id"], head["id"], head["notice_group"]))

    async def _merge_notice(self, head: dict[str, Any]) -> dict[str, Any]:
        """Merge the other pending rows of the head's coalesce key into it: they go out with it."""
        riders = await self.fetch_all(
            "UPDATE outbox SET merged_into = ?, coalesce_key = NULL WHERE coalesce_key = ? AND status = 'pending' "
            "AND merged_into IS NULL AND id <> ? RETURNING id, mentions", (head["id"], head["notice_group"], head["id"]))
        if not riders:
            return head
        rows = sorted([head, *riders], key=lambda r: r["id"])
        mentions = list(dict.fromkeys(m for r in rows for m in json.loads(r["mentions"])))
        head = {**head, "mentions": json.dumps(mentions, ensure_ascii=False)}
        await self.execute("UPDATE outbox SET mentions = ? WHERE id = ?", (head["mentions"], head["id"]))
        return head

    async def outbox_claims_end(self, now: float, instance: str) -> float | None:
        """When the first claim another instance holds on a pending message runs out (None: no
        such claim): a survivor looks again then, instead of at its next idle poll."""
        row = await self.fetch_one(
            "SELECT MIN(claimed_until) AS until FROM outbox "
            "WHERE status = 'pending' AND claimed_until >= ? AND claimed_by <> ?",
            (now, instance),
        )
        return float(row["until"]) if row and row["until"] is not None else None

    async def release_outbox(self, message_id: int, instance: str) -> None:
        """Give a claimed, unsent message back at once (e.g. the connection is down)."""
        await self.execute(
            "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL, sending_since = NULL "
            "WHERE id = ? AND claimed_by = ? AND status = 'pending'",
            (message_id, instance),
        )

    async def outbox_in_doubt(self, instance: str) -> OutMessage | None:
        """The message ``instance`` began to send and never settled (sent, failed for sure), if any."""
        row = await self.fetch_one(
            "SELECT * FROM outbox WHERE status = 'pending' AND claimed_by = ? AND sending_since IS NOT NULL "
            "ORDER BY sending_since LIMIT 1", (instance,))
        return out_message(row) if row is not None else None

    async def settle_sending(self, message_id: int) -> None:
        """The send of the message certainly did not go out: it is no longer in doubt."""
        await self.execute("UPDATE outbox SET sending_since = NULL WHERE id = ?", (message_id,))

    async def mark_sent(self, message_id: int, at: float) -> None:
        await self.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, sending_since = NULL "
            "WHERE (id = ? OR merged_into = ?) AND status = 'pending'",  # with the rows merged into it
            (at, message_id, message_id),
        )

    async def mark_retry(self, message_id: int, error: str, next_at: float, *, give_up: bool,
                         settled: bool = True) -> None:
        """Count a failed attempt; the claim ends with it (the retry may go out through any
        instance).  ``settled=False``: it may have gone out, so it stays in doubt."""
        await self.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_at = ?, status = ?, "
            f"claimed_until = NULL{', sending_since = NULL' if settled else ''} WHERE id = ?",
            (error[:500], next_at, "failed" if give_up else "pending", message_id),
        )
        if give_up:  # the rows merged into it fail with it
            await self.execute("UPDATE outbox SET status = 'failed', last_error = ? WHERE merged_into = ? "
                               "AND status = 'pending'", (error[:500], message_id))

    async def outbox_rows(self) -> list[dict[str, Any]]:
        return await self.fetch_all("SELECT * FROM outbox ORDER BY id")

    # scheduled jobs -----------------------------------------------------------------------
    async def claim_job_run(self, job: str, community: str, period: str, due_at: float, ran_at: float,
                            late: bool) -> bool:
        return await self.execute(
            "INSERT INTO job_runs (job, community, period, due_at, ran_at, late) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job, community, period) DO NOTHING",
            (job, community, period, due_at, ran_at, int(late)),
        ) == 1

    async def job_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        if job is None:
            return await self.fetch_all("SELECT * FROM job_runs ORDER BY due_at")
        return await self.fetch_all("SELECT * FROM job_runs WHERE job = ? ORDER BY due_at", (job,))

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
        return row["value"] if row else None

    async def setdefault_meta(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless a value is there; return the stored value."""
        await self.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
        row = await self.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
        assert row is not None
        return row["value"]

    async def meta_with_prefix(self, prefix: str) -> dict[str, str]:
        rows = await self.fetch_all("SELECT key, value FROM meta WHERE key LIKE ? ESCAPE '!' ORDER BY key",
                                    (prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%",))
        return {r["key"]: r["value"] for r in rows}

    async def set_meta(self, key: str, value: str) -> None:
        await self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def out_message(r: dict[str, Any]) -> OutMessage:
    return OutMessage(
        text=r["text"], room=r["room"], contact=r["contact"], mentions=tuple(json.loads(r["mentions"])),
        coalesce_key=r["coalesce_key"], fallback=json.loads(r["fallback"]) if r["fallback"] else None,
        id=r["id"], attempts=r["attempts"], created_at=r["created_at"],
        mention_cap=r.get("mention_cap"), more_text=r.get("more_text"), sending_since=r.get("sending_since"),
    )


def _in_list(column: str, values: frozenset[str]) -> tuple[str, list[Any]]:
    """``column IN (?, ...)`` in a stable order; an empty set matches nothing."""
    if not values:
        return "1 = 0", []
    ordered = sorted(values)
    return f"{column} IN ({', '.join('?' for _ in ordered)})", ordered
