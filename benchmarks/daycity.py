"""The synthetic city of the real-day benchmark (benchmarks/day.py): a year of orders of many
communities *interleaved in time* (as a district's shared database fills up, not community by
community), the served community holding a tenth of them, with the audit events of every order,
the outbox of the last month and the handled message ids of the last week.

``iter_day_city`` yields the rows once, for both backends: ``write_sqlite`` loads them into a
migrated SQLite file, ``benchmarks.pg.load_day_city`` COPYs them into a PostgreSQL schema.
"""

from __future__ import annotations

import bisect
import itertools
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.city import community_names, drop_indexes, weights
from bot.config import Config

YEAR = 2026
CATEGORIES = ["搬家配送", "家电水电维修", "家政护工保洁", "开锁换锁", "管道疏通", "家具安装", "陪诊代办"]
ORDER_COLUMNS = ("community", "no", "grid", "source", "status", "category", "raw_text", "need_text", "phones",
                 "resident_id", "resident_name", "taker_id", "created_at", "dispatched_at", "taken_at", "done_at",
                 "cancelled_at", "rating", "followup_sent_at", "origin_room")
WORKER_COLUMNS = ("id", "community", "name", "wechat", "phone", "skills", "team", "pledge_date", "status",
                  "registered_at", "bound_at")
EVENT_COLUMNS = ("order_id", "community", "at", "actor", "kind", "detail")
OUTBOX_COLUMNS = ("created_at", "room", "contact", "text", "mentions", "status", "attempts", "next_at", "sent_at",
                  "claimed_by")
PROCESSED_COLUMNS = ("message_id", "at")
COLUMNS = {"workers": WORKER_COLUMNS, "orders": ORDER_COLUMNS, "events": EVENT_COLUMNS, "outbox": OUTBOX_COLUMNS,
           "processed": PROCESSED_COLUMNS, "counters": ("community", "last_no")}
LOADED_WITHOUT_INDEXES = ("orders", "events", "outbox", "processed")  # their indexes are built after the rows


@dataclass(frozen=True)
class DaySizes:
    orders: int  # in the whole city, over the year
    workers: int
    communities: int
    served_share: float  # of the orders, in the served community


FULL_DAY = DaySizes(orders=1_000_000, workers=10_000, communities=700, served_share=0.10)
QUICK_DAY = DaySizes(orders=20_000, workers=300, communities=20, served_share=0.10)


def day_now(tz: Any) -> datetime:
    """The benchmark's 'now': the last day of the year, 20:00, when the daily tally is due."""
    return datetime(YEAR, 12, 31, 20, 0, tzinfo=tz)


def iter_day_city(sizes: DaySizes, config: Config) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """``(table, rows)`` chunks in insertion order: workers first, then orders (ids 1, 2, ... in
    creation order across communities) with their events, then the outbox and processed rows."""
    rng = random.Random(2026)
    served = config.communities[0]
    others = [n for n in community_names(sizes.communities - 1) if n != served.name]
    share = weights(len(others))
    now = day_now(config.tz).timestamp()
    year_start = datetime(YEAR, 1, 1, tzinfo=config.tz).timestamp()

    worker_rows: list[tuple[Any, ...]] = []
    takers: dict[str, list[int]] = {}
    counts = {served.name: max(20, round(sizes.workers * 0.0165))}  # Xima: 165 of 10,000
    counts.update({name: max(3, round((sizes.workers - counts[served.name]) * w)) for name, w in zip(others, share)})
    for name, count in counts.items():
        takers[name] = []
        for k in range(count):
            wid = len(worker_rows) + 1
            status = "suspended" if rng.random() < 0.03 else "active"
            worker_rows.append((wid, name, f"{name}师傅{k}", f"wxid_{wid:07d}", f"139{wid:08d}", '["家电水电维修"]',
                                f"第{k % 5 + 1}队", "2026-03-01", status, year_start, year_start))
            takers[name].append(wid)
    yield "workers", worker_rows

    # which community each order of the city belongs to, in time order (interleaved)
    cumulative = list(itertools.accumulate([sizes.served_share] + [w * (1 - sizes.served_share) for w in share]))
    names = [served.name, *others]
    times = sorted(rng.uniform(year_start, now - 600) for _ in range(sizes.orders))
    grids = {served.name: [(g.name, g.groups[0]) for g in served.grids]}
    numbers: dict[str, int] = {}
    recent, week, month = now - 2 * 86400, now - 8 * 86400, now - 31 * 86400
    orders, events, outbox, processed = [], [], [], []
    for order_id, created in enumerate(times, 1):
        name = names[min(bisect.bisect(cumulative, rng.random() * cumulative[-1]), len(names) - 1)]
        no = numbers[name] = numbers.get(name, 0) + 1
        grid, room = rng.choice(grids.get(name) or [(f"第{rng.randint(1, 7)}网格", f"{name}第{rng.randint(1, 7)}网格群")])
        r = rng.random()
        if created < recent:
            status = "done" if r < 0.92 else "cancelled"
        else:
            status = ("posted" if r < 0.05 else "dispatched" if r < 0.15 else "taken" if r < 0.4 else
                      "cancelled" if r < 0.45 else "done")
        dispatched = taken = done = cancelled = taker = rating = followup = None
        if status != "posted":
            dispatched = created + rng.uniform(60, 1800)
        if status in ("taken", "done"):
            taken = dispatched + 2 + rng.expovariate(1 / 40)
            taker = rng.choice(takers[name])
        if status == "done":
            done = min(taken + rng.uniform(1800, 6 * 3600), now - 1)
            rating = rng.choice([None, None, 5, 5, 5, 4, 4, 3, 2, 1])
            followup = done + 7200 if rng.random() < 0.6 and done + 7200 < now else None
        if status == "cancelled":
            cancelled = (dispatched or created) + rng.uniform(60, 3600)
        resident = f"wxid_r{rng.randrange(10**6):06d}"
        orders.append((name, no, grid, "chat", status, rng.choice(CATEGORIES), f"需要帮忙 {no}", f"需要帮忙 {no}",
                       '["13900000000"]', resident, f"居民{no % 500}", taker, created, dispatched, taken, done,
                       cancelled, rating, followup, room))
        events.append((order_id, name, created, "bot", "posted", "source=chat"))
        last = done or cancelled or taken or dispatched
        if last is not None:
            events.append((order_id, name, last, "bot", status, ""))
        if created >= month:
            outbox.append((created, room, None, f"收到您的需求，订单号 #{no}", f'["{resident}"]', "sent", 1, created,
                           created + 1, "bench"))
            if dispatched is not None:
                outbox.append((dispatched, f"{name}零工市场群", None, f"【派单 #{no}】{grid} 需要帮忙", "[]", "sent", 1,
                               dispatched, dispatched + 1, "bench"))
        if created >= week:
            processed.append((f"wx-{order_id}", created))
            if dispatched is not None:
                processed.append((f"wx-{order_id}-d", dispatched))
        if len(orders) >= 50_000:
            yield "orders", orders
            yield "events", events
            orders, events = [], []
    yield "orders", orders
    yield "events", events
    yield "outbox", outbox
    yield "processed", processed
    yield "counters", list(numbers.items())


def write_sqlite(path: Path, sizes: DaySizes, config: Config) -> dict[str, int]:
    """Load the city into the migrated SQLite file at ``path`` (indexes rebuilt after the load)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    made: dict[str, int] = {}
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # loading only; the benchmark runs on a normal WAL database
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        indexes = drop_indexes(conn, LOADED_WITHOUT_INDEXES)
        for table, rows in iter_day_city(sizes, config):
            columns = COLUMNS[table]
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                             rows)
            made[table] = made.get(table, 0) + len(rows)
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    made["bytes"] = path.stat().st_size
    return made


async def write_postgres(url: str, schema: dict[str, str], sizes: DaySizes, config: Config) -> dict[str, int]:
    """COPY the city into a migrated PostgreSQL schema (secondary indexes rebuilt after the load),
    then VACUUM ANALYZE, as a running district's database would have been."""
    import asyncpg

    from benchmarks.pg import drop_indexes as drop_pg_indexes

    conn = await asyncpg.connect(url, server_settings=schema)
    made: dict[str, int] = {}
    try:
        async with conn.transaction():
            indexes = await drop_pg_indexes(conn, LOADED_WITHOUT_INDEXES)
            for table, rows in iter_day_city(sizes, config):
                await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
                made[table] = made.get(table, 0) + len(rows)
            for sql in indexes:
                await conn.execute(sql)
            for table in ("workers", "orders", "events", "outbox"):
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                   f"(SELECT coalesce(max(id), 1) FROM {table}))")
        for table in COLUMNS:
            await conn.execute(f"VACUUM ANALYZE {table}")
        made["bytes"] = await conn.fetchval(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r' "
            "AND c.relnamespace = current_schema()::regnamespace")
    finally:
        await conn.close()
    return made
