"""The hot job and page queries use an index, checked by the database's own planner.

The statements are the ones the code really runs: the sweep, the daily tally and its follow-up
list, the yearly ranking, the worker page's figures and a page of the order list are run against
a small community while every statement is recorded; then each SELECT (and conditional UPDATE)
that reads ``orders`` is explained.  SQLite (``EXPLAIN QUERY PLAN``) must search ``orders`` by an
index, never scan it; PostgreSQL (``EXPLAIN`` with sequential scans priced out, so a usable
index is always taken) must never show ``Seq Scan on orders``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


from bot.clock import FakeClock
from bot.schedule.jobs import next_sweep_deadline, run_report, sweep
from handlers.reports import period_bounds, ranking
from storage.postgres import PostgresRepository, PostgresTx, numbered
from storage.sqlite import SqliteRepository
from tests.conftest import START, Chat
from tests.test_storage import order_values, pg_schema, pg_url  # noqa: F401  (pg_url: fixture)

COMMUNITY = "洗马社区"


async def city_block(chat: Chat) -> None:
    """A few hundred orders of every status over a month, so each query has rows to find."""
    now = chat.clock.now().timestamp()
    async with chat.repo.transaction() as tx:
        workers = [w for w in await tx.list_workers(COMMUNITY)]
        for no in range(1, 301):
            created = now - 30 * 86400 + no * 8000
            status = ("done", "done", "taken", "dispatched", "cancelled", "posted")[no % 6]
            taker = workers[no % len(workers)].id if status in ("done", "taken") else None
            await tx.insert_order(order_values(
                COMMUNITY, 10_000 + no, status=status, created_at=created, dispatched_at=created + 60,
                taken_at=created + 90 if taker else None, taker_id=taker,
                done_at=created + 3600 if status == "done" else None,
                followup_sent_at=created + 7200 if status == "done" and no % 4 == 0 else None))
        await tx.execute("UPDATE counters SET last_no = 10300 WHERE community = ?", (COMMUNITY,))


async def run_the_day(chat: Chat) -> None:
    community = chat.app.config.community(COMMUNITY)
    now = chat.clock.now()
    await sweep(chat.app, community)
    await next_sweep_deadline(chat.app, community)
    await run_report(chat.app, "daily_tally", community, now.replace(hour=20, minute=0))
    await run_report(chat.app, "yearly_ranking", community, now)
    month_start, month_end = period_bounds(now, "month")
    async with chat.repo.reading() as tx:
        await tx.worker_activity(COMMUNITY, month_start.timestamp(), month_end.timestamp(),
                                 (now - timedelta(days=90)).timestamp())
        await tx.find_orders(COMMUNITY, newest_first=True, limit=101)
        await tx.find_orders(COMMUNITY, statuses=("done",), newest_first=True, before_no=10_200, limit=101)
        await ranking(tx, COMMUNITY, month_start, month_end)


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A PostgreSQL plan node and every node under it."""
    return [plan, *(n for child in plan.get("Plans", ()) for n in nodes(child))]


def reads_orders(sql: str) -> bool:
    return bool(re.search(r"\borders\b", sql)) and sql.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH"))


async def test_sqlite_hot_queries_search_orders_by_an_index(config, tmp_path: Path) -> None:
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    repo = SqliteRepository(str(tmp_path / "plans.db"))
    await repo.open()
    try:
        chat = Chat.wire(config, repo, clock)
        await chat.app.setup()
        await city_block(chat)
        seen: list[str] = []
        await repo._db.set_trace_callback(seen.append)
        async with repo.reading() as tx:  # open the reader, then trace it too
            await tx.get_meta("x")
        await repo._reader.set_trace_callback(seen.append)
        await run_the_day(chat)
        statements = sorted({s for s in seen if reads_orders(s)})
        assert len(statements) >= 12, statements
        bad = {}
        async with repo.reading() as tx:
            for sql in statements:
                plan = [r["detail"] for r in await tx.fetch_all(f"EXPLAIN QUERY PLAN {sql}")]
                if unbounded := [p for p in plan if not bounded(sql, p, plan)]:
                    bad[sql] = unbounded
        assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
    finally:
        await repo.close()


OPEN_STATUSES = {"posted", "dispatched", "taken", "pending_review"}


def bounded(sql: str, step: str, plan: list[str]) -> bool:
    """Whether one step of a SQLite plan reads a bounded part of ``orders``: a time range of a
    (community, <time>) index, a key, one worker's orders, the open orders (orders_open with open
    statuses only), or the first rows of a LIMIT read in index order.  Scanning the table, or
    searching a community's done orders through orders_open, reads its whole history."""
    if not re.match(r"(SCAN|SEARCH) (orders|o|mine)\b", step):
        return True  # another table, a temp b-tree, a subquery's heading
    if step.startswith("SCAN"):
        return False
    if re.search(r"\w+_at[<>]", step) or re.search(r"\((id|rowid)=\?\)|no=\?|taker_id=\?", step):
        return True
    if " LIMIT " in sql and not any("TEMP B-TREE FOR" in p and "ORDER BY" in p for p in plan):
        return True  # read in index order, it stops after LIMIT rows
    if "orders_open" in step:
        found = re.findall(r"status (?:IN \(([^)]*)\)|= ('[^']*'))", sql)
        named = {v.strip(" '") for groups in found for group in groups for v in group.split(",") if v.strip()}
        return bool(named) and named <= OPEN_STATUSES
    return False


async def test_postgres_hot_queries_never_scan_orders(config, pg_url, monkeypatch) -> None:  # noqa: F811
    recorded: list[tuple[str, tuple[Any, ...]]] = []
    for name in ("fetch_one", "fetch_all", "execute"):
        real = getattr(PostgresTx, name)

        def recording(real=real):
            async def call(self, sql, args=()):
                recorded.append((sql, tuple(args)))
                return await real(self, sql, args)
            return call
        monkeypatch.setattr(PostgresTx, name, recording())
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    async with pg_schema(pg_url) as settings:
        repo = PostgresRepository(pg_url, server_settings=settings)
        await repo.open()
        try:
            chat = Chat.wire(config, repo, clock)
            await chat.app.setup()
            await city_block(chat)
            async with repo.transaction() as tx:
                await tx.run_plain("ANALYZE orders")
            recorded.clear()
            await run_the_day(chat)
            statements = {sql: args for sql, args in recorded if reads_orders(sql)}
            assert len(statements) >= 12, list(statements)
            bad = {}
            async with repo.transaction() as tx:
                await tx.run_plain("SET LOCAL enable_seqscan = off")  # a usable index is always taken
                for sql, args in statements.items():
                    plan = json.loads(await tx.conn.fetchval(f"EXPLAIN (FORMAT JSON) {numbered(sql)}", *args))
                    if scans := [n for n in nodes(plan[0]["Plan"])
                                 if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "orders"]:
                        bad[sql] = scans
        finally:
            await repo.close()
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)[:4000]
