"""The synthetic city of the reports benchmark: a year of orders and workers over many
communities, the same data for SQLite (``generate_city``) and PostgreSQL (``benchmarks.pg.load_city``).
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import Sizes

YEAR = 2026


def community_names(n: int) -> list[str]:
    return [f"社区{i:03d}" for i in range(n)]


def weights(n: int) -> list[float]:
    raw = [1 / (i + 10) for i in range(n)]
    total = sum(raw)
    return [w / total for w in raw]


def iter_city(sizes: Sizes, tz: Any) -> Any:
    """A synthetic year: orders spread over communities by a long-tailed weight (the busiest
    community has about 2% of them), workers likewise.  Yields ``("workers", rows)`` first, then
    ``("orders", community, rows)`` per community, then ``("facts", {...})``; the same data for
    both backends (one seeded generator)."""
    rng = random.Random(2026)
    names = community_names(sizes.communities)
    share = weights(sizes.communities)
    year_start = datetime(YEAR, 1, 1, tzinfo=tz).timestamp()
    now = datetime(YEAR, 12, 31, 20, 0, tzinfo=tz).timestamp()
    worker_rows, worker_ids = [], {}
    next_id = 1
    for c, name in enumerate(names):
        count = max(3, round(sizes.workers * share[c]))
        worker_ids[name] = list(range(next_id, next_id + count))
        for k in range(count):
            status = "suspended" if rng.random() < 0.03 else "active"
            worker_rows.append((next_id, name, f"{name}师傅{k}", f"wx{next_id}", f"139{next_id:08d}",
                                '["家电水电维修"]', f"第{k % 5 + 1}队", "2026-03-01", status, year_start))
            next_id += 1
    yield ("workers", worker_rows)
    categories = ["搬家配送", "家电水电维修", "家政护工保洁", "开锁换锁", "管道疏通", "家具安装", "陪诊代办"]
    recent = now - 2 * 86400
    total = 0
    for c, name in enumerate(names):
        n = max(1, round(sizes.orders * share[c]))
        times = sorted(rng.uniform(year_start, now - 600) for _ in range(n))
        rows = []
        for no, created in enumerate(times, 1):
            grid = f"第{rng.randint(1, 7)}网格"
            dispatched = taken = done = cancelled = taker = rating = followup = None
            r = rng.random()
            status = ("done" if r < 0.92 else "cancelled") if created < recent else \
                ("posted" if r < 0.05 else "dispatched" if r < 0.15 else "taken" if r < 0.4 else
                 "cancelled" if r < 0.45 else "done")
            if status != "posted":
                dispatched = created + rng.uniform(60, 1800)
            if status in ("taken", "done"):
                taken = dispatched + 2 + rng.expovariate(1 / 40)  # most claims within a minute
                taker = rng.choice(worker_ids[name])
            if status == "done":
                done = min(taken + rng.uniform(1800, 6 * 3600), now - 1)
                rating = rng.choice([None, None, 5, 5, 5, 4, 4, 3, 2, 1])
                followup = done + 7200 if rng.random() < 0.5 else None
            if status == "cancelled":
                cancelled = (dispatched or created) + rng.uniform(60, 3600)
            rows.append((name, no, grid, "chat", status, rng.choice(categories), f"需要帮忙 {no}",
                         f"需要帮忙 {no}", '["13900000000"]', f"居民{no % 500}", f"居民{no % 500}",
                         taker, created, dispatched, taken, done, cancelled, rating, followup))
        total += n
        yield ("orders", name, rows)
    yield ("facts", {"orders": total, "workers": len(worker_rows), "now": now})


def drop_indexes(conn: sqlite3.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of ``tables`` (inside the load's transaction); their SQL, to
    build them again once the rows are in."""
    found = list(conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' for _ in tables)})", tables))
    for name, _ in found:
        conn.execute(f"DROP INDEX {name}")
    return [sql for _, sql in found]


def generate_city(path: Path, sizes: Sizes, tz: Any) -> dict[str, Any]:
    """The synthetic year (``iter_city``) written with executemany in one transaction, the orders'
    indexes dropped while loading and rebuilt after it."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    made: dict[str, Any] = {}
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # generation only; the queries run on a normal WAL database
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        indexes = drop_indexes(conn, ("orders",))
        for part in iter_city(sizes, tz):
            if part[0] == "workers":
                conn.executemany("INSERT INTO workers (id, community, name, wechat, phone, skills, team, pledge_date, "
                                 "status, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", part[1])
            elif part[0] == "orders":
                _, name, rows = part
                conn.executemany(
                    "INSERT INTO orders (community, no, grid, source, status, category, raw_text, need_text, phones, "
                    "resident_id, resident_name, taker_id, created_at, dispatched_at, taken_at, done_at, cancelled_at, "
                    "rating, followup_sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.execute("INSERT INTO counters (community, last_no) VALUES (?, ?)", (name, len(rows)))
            else:
                made = part[1]
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return made
