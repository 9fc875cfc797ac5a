"""The intake benchmark: ``app.process`` of residents' needs against the raw aiosqlite limit
(BEGIN IMMEDIATE, one INSERT, COMMIT) with the same PRAGMAs, in alternating rounds with and
without fsync; with ``--pg``, the same against a raw asyncpg loop (benchmarks/pg.py).
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import aiosqlite

from benchmarks.common import PRAGMAS, Results, Row, Sizes, demo_config, ms, percentile
from bot.app import App
from bot.clock import FakeClock
from bot.config import Config
from bot.transport import IncomingMessage
from handlers.classifier import Intake, build_intake
from storage.postgres import scratch_schema
from storage.sqlite import SqliteRepository


class CountingConnection:
    """Counts round trips to the aiosqlite thread (execute / execute_fetchall calls)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.count = 0
        for name in ("execute", "execute_fetchall"):
            real = getattr(db, name)
            setattr(db, name, self._counted(real))

    def _counted(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)
        return call


async def raw_insert_rate(path: Path, n: int, synchronous: str = "FULL") -> float:
    db = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        for pragma in PRAGMAS:
            await db.execute(f"PRAGMA {pragma}")
        await db.execute(f"PRAGMA synchronous = {synchronous}")
        await db.execute("CREATE TABLE bench (id INTEGER PRIMARY KEY, at REAL NOT NULL, body TEXT NOT NULL)")
        start = time.perf_counter()
        for i in range(n):
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("INSERT INTO bench (at, body) VALUES (?, ?)", (time.time(), f"需要修水管 {i}"))
            await db.execute("COMMIT")
        return n / (time.perf_counter() - start)
    finally:
        await db.close()


def need_messages(config: Config, n: int, clock: FakeClock, prefix: str) -> list[IncomingMessage]:
    community = config.communities[0]
    grids = community.grids
    texts = ["需要修水管，阳光小区{b}栋2单元{r}室，电话139{p:08d}", "有没有会修空调的，金鼎苑{b}幢，明天上午，电话138{p:08d}",
             "想找人帮忙搬家，洗马路{b}号，周六，预算300元，电话137{p:08d}", "求助：家里下水道堵了，幸福苑{b}栋{r}室，电话136{p:08d}"]
    messages = []
    for i in range(n):
        grid = grids[i % len(grids)]
        resident = f"{prefix}居民{i % 1000}"
        text = texts[i % len(texts)].format(b=i % 30 + 1, r=100 + i % 900, p=i)
        messages.append(IncomingMessage(id=f"{prefix}{i}", sender_id=resident, sender_name=resident, text=text,
                                        at=clock.now(), room_id=grid.groups[0], room_topic=grid.groups[0]))
    return messages


async def feed(app: App, messages: list[IncomingMessage], clock: FakeClock) -> tuple[float, list[float]]:
    """Process ``messages`` one at a time, 0.1 s of app time apart: (messages per second, latencies)."""
    latencies = []
    start = time.perf_counter()
    for message in messages:
        t = time.perf_counter()
        await app.process(message)
        latencies.append(time.perf_counter() - t)
        clock.advance(0.1)
    return len(messages) / (time.perf_counter() - start), latencies


async def app_intake_rate(config: Config, path: Path, n: int, synchronous: str = "FULL", *,
                          intake: Intake | None = None) -> tuple[float, list[float], int, int]:
    """Messages per second through app.process; per-message latencies; orders; round trips per message."""
    clock = FakeClock(datetime(2026, 11, 23, 8, 0, 0), config.tz)
    repo = SqliteRepository(str(path), synchronous=synchronous)
    await repo.open()
    try:
        app = App(config, repo, clock, intake=intake or build_intake(config))  # trained before the timing
        await app.setup()
        assert repo._db is not None
        counter = CountingConnection(repo._db)
        rate, latencies = await feed(app, need_messages(config, n, clock, "in"), clock)
        async with repo.transaction() as tx:
            orders = len(await tx.find_orders(config.communities[0].name))
        return rate, latencies, orders, round(counter.count / n)
    finally:
        await repo.close()


async def pg_app_intake_rate(config: Config, url: str, n: int, *,
                             intake: Intake | None = None) -> tuple[float, list[float], int, int]:
    """app_intake_rate on a PostgreSQL repository in a fresh schema; round trips are PostgresTx's
    statements plus BEGIN and COMMIT."""
    from benchmarks import pg

    clock = FakeClock(datetime(2026, 11, 23, 8, 0, 0), config.tz)
    async with scratch_schema(url, "lg_bench") as schema:
        repo = pg.repository(url, schema)
        await repo.open()
        try:
            app = App(config, repo, clock, intake=intake or build_intake(config))
            await app.setup()
            messages = need_messages(config, n, clock, "in")
            with pg.StatementCounter() as counter:
                rate, latencies = await feed(app, messages, clock)
                statements = counter.count
            async with repo.transaction() as tx:
                orders = len(await tx.find_orders(config.communities[0].name))
            return rate, latencies, orders, round(statements / n) + 2
        finally:
            await repo.close()


async def bench_intake_pg(sizes: Sizes, results: Results, intake: Intake) -> None:
    """The intake rows' PostgreSQL column: alternating rounds of asyncpg's raw loop and app.process."""
    if not results.pg_url:
        for match in ("raw aiosqlite", "app.process: need", "ratio app / raw"):
            results.pg("intake", match, results.pg_missing.split(":")[0])
        return
    from benchmarks import pg

    config = demo_config()
    url, n = results.pg_url, sizes.intake_messages
    rounds, latencies, orders, hops = [], [], 0, 0
    for _ in range(max(1, min(sizes.intake_rounds, 5))):
        r = {"raw": await pg.raw_insert_rate(url, n)}
        r["app"], lat, orders, hops = await pg_app_intake_rate(config, url, n, intake=intake)
        r["ratio"] = r["app"] / r["raw"]
        rounds.append(r)
        latencies += lat
    med = {k: statistics.median(r[k] for r in rounds) for k in ("raw", "app", "ratio")}
    quartiles = statistics.quantiles([r["ratio"] for r in rounds], n=4) if len(rounds) > 1 else [med["ratio"]] * 3
    hop = await pg.round_trip(url)
    results.checks.update(pg_intake_orders=orders)
    results.pg("intake", "raw aiosqlite", f"{med['raw']:,.0f} msg/s (raw asyncpg: BEGIN + INSERT + COMMIT)")
    results.pg("intake", "app.process: need", f"{med['app']:,.0f} msg/s")
    results.pg("intake", "ratio app / raw", f"{med['ratio']:.2f}× ({quartiles[0]:.2f}-{quartiles[2]:.2f}), "
                                            f"{len(rounds)} rounds")
    results.pg("intake", "rounds, fastest disk first",
               ", ".join(f"{r['raw']:,.0f} -> {r['ratio']:.2f}" for r in sorted(rounds, key=lambda r: -r["raw"])))
    results.pg("intake", "app.process latency p50 / p99",
               f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 99))}")
    results.pg("intake", "round trips to the SQLite thread", f"3 / {hops}; {hop * 1e6:.0f} µs (to the server)")
    raw_us, app_us = 1e6 / med["raw"], 1e6 / med["app"]
    results.pg_notes["intake"] = (
        f"Each message is one transaction on one pooled connection: {hops} round trips to the server at about "
        f"{hop * 1e6:.0f} µs each over the local socket (BEGIN, duplicate check, counter upsert, insert order, "
        f"audit event, outbox row, processed id, COMMIT), the same Python work as on SQLite (parsing, handler, "
        f"rendering, row objects), and one WAL flush at COMMIT (synchronous_commit=on). The raw loop costs "
        f"{raw_us:.0f} µs per message (three round trips and the flush), the app {app_us:.0f} µs: the difference "
        f"is the app's {hops - 3} extra round trips, each a wake-up of the asyncio loop and of a server backend on "
        f"this shared 2-CPU machine, and its Python. The WAL flush is the server's, on the same virtual disk as "
        f"SQLite's, so the rounds vary with the disk here too.")


async def hop_cost(path: Path, n: int = 2000) -> float:
    db = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        start = time.perf_counter()
        for _ in range(n):
            await db.execute_fetchall("SELECT 1")
        return (time.perf_counter() - start) / n
    finally:
        await db.close()


def cpu_per_message(config: Config, intake: Intake, n: int = 2000) -> float:
    """Parsing (and classifying) the need and rendering its acknowledgement: the Python work
    outside the database."""
    from bot.render import Renderer
    from handlers.parse import parse_message

    clock = FakeClock(datetime(2026, 11, 23, 8, 0, 0), config.tz)
    messages = need_messages(config, n, clock, "cpu")
    renderer = Renderer(config.tz)
    start = time.perf_counter()
    for i, message in enumerate(messages):
        parse_message(message.text, config.categories, intake=intake)
        renderer.render("order_ack", {"no": i, "category": "家电水电维修", "auto": False, "proxy": False,
                                      "resident": message.sender_name, "time_wish": None})
    return (time.perf_counter() - start) / n


async def bench_intake(sizes: Sizes, work: Path, results: Results) -> None:
    """Alternating short rounds (raw and app, with and without fsync), so that the moments when the
    shared disk is fast or slow fall on both loops alike; per-round ratios show how they vary."""
    config = demo_config()
    intake = build_intake(config)
    rounds: list[dict[str, float]] = []
    latencies: list[float] = []
    orders = hops = 0
    n = sizes.intake_messages
    for k in range(sizes.intake_rounds):
        r: dict[str, float] = {"raw": await raw_insert_rate(work / f"raw{k}.db", n)}
        r["app"], lat, orders, hops = await app_intake_rate(config, work / f"intake{k}.db", n, intake=intake)
        # the same loops without waiting for the disk (synchronous=OFF): CPU and round trips only
        r["raw_off"] = await raw_insert_rate(work / f"raw-off{k}.db", n, "OFF")
        r["app_off"], _, _, _ = await app_intake_rate(config, work / f"intake-off{k}.db", n, "OFF", intake=intake)
        r["ratio"] = r["app"] / r["raw"]
        rounds.append(r)
        latencies += lat

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def us(rate: float) -> float:
        return 1e6 / rate

    ratio = med("ratio")
    quartiles = statistics.quantiles([r["ratio"] for r in rounds], n=4) if len(rounds) > 1 else [ratio] * 3
    disk_raw = statistics.median(us(r["raw"]) - us(r["raw_off"]) for r in rounds)
    disk_app = statistics.median(us(r["app"]) - us(r["app_off"]) for r in rounds)
    hop = await hop_cost(work / "hop.db")
    cpu = cpu_per_message(config, intake)
    results.checks.update(intake_orders=orders, intake_messages=n)
    by_disk = sorted(rounds, key=lambda r: -r["raw"])
    results.rows += [
        Row("intake", "raw aiosqlite: BEGIN IMMEDIATE + INSERT + COMMIT per message", f"{med('raw'):,.0f} msg/s"),
        Row("intake", "app.process: need -> order + audit + ack in outbox + processed id", f"{med('app'):,.0f} msg/s"),
        Row("intake", f"ratio app / raw, median of {len(rounds)} alternating rounds (quartiles)",
            f"{ratio:.2f}× ({quartiles[0]:.2f}-{quartiles[2]:.2f})", "≥ 0.5×", ratio >= 0.5),
        Row("intake", "rounds, fastest disk first: raw msg/s -> ratio",
            ", ".join(f"{r['raw']:,.0f} -> {r['ratio']:.2f}" for r in by_disk)),
        Row("intake", "app.process latency p50 / p99", f"{ms(percentile(latencies, 50))} / {ms(percentile(latencies, 99))}"),
        Row("intake", "per message without disk waits (synchronous=OFF): raw / app",
            f"{us(med('raw_off')):.0f} / {us(med('app_off')):.0f} µs"),
        Row("intake", "per message waiting for the disk (FULL minus OFF, median): raw / app",
            f"{disk_raw:.0f} / {disk_app:.0f} µs"),
        Row("intake", "round trips to the SQLite thread per message: raw / app; one round trip",
            f"3 / {hops}; {hop * 1e6:.0f} µs"),
        Row("intake", "parse (with the classifier) + render per message (pure Python)", f"{cpu * 1e6:.0f} µs"),
    ]
    results.notes["intake"] = (
        f"The raw loop is almost only its fsync: {us(med('raw_off')):.0f} µs per message of work (3 round trips "
        f"to aiosqlite's database thread) and a median {disk_raw:.0f} µs waiting for the WAL to reach the disk "
        f"(synchronous=FULL). The app does {us(med('app_off')):.0f} µs of work per message: {hops} round trips "
        f"at about {hop * 1e6:.0f} µs (BEGIN, duplicate check, next order number, insert order, audit event, "
        f"outbox row, processed id, COMMIT), about {cpu * 1e6:.0f} µs of parsing and rendering, and the handler, "
        f"the rows' Python objects and asyncio scheduling for the rest; then it waits for one fsync too, of more "
        f"pages (the order row and its index entries, the event, the outbox row, the processed id, the counter). "
        f"So the ratio follows the disk: when an fsync is cheap the app's fixed work dominates and the ratio falls "
        f"towards {us(med('raw_off')) / us(med('app_off')) if med('app_off') else 0:.2f}; when the disk is slow both "
        f"wait for it and the ratio rises towards 1. This virtual disk is shared with other jobs and its fsync "
        f"time changes several-fold between rounds (see the rounds row), which is why the rounds spread so much.")
    await bench_intake_pg(sizes, results, intake)
