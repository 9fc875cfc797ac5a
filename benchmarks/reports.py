"""The reports benchmark: the daily tally and the yearly ranking over a synthetic year of
city-scale data (benchmarks/city.py), through the same code the bot runs (handlers.reports), with
the indexes of migration 003 and, for comparison, without them; with ``--pg``, on PostgreSQL too.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable

from benchmarks.city import community_names, generate_city, iter_city
from benchmarks.common import Results, Row, Sizes, demo_config, ms
from handlers.reports import period_bounds, ranking, tally
from storage.postgres import scratch_schema
from storage.sqlite import SqliteRepository


async def time_query(repeats: int, run: Callable[[Any], Awaitable[Any]], repo: SqliteRepository) -> tuple[float, float, Any]:
    """(first run, median of the repeats after it, last result)."""
    timings, result = [], None
    for _ in range(repeats + 1):
        async with repo.transaction() as tx:
            start = time.perf_counter()
            result = await run(tx)
            timings.append(time.perf_counter() - start)
    return timings[0], statistics.median(timings[1:]) if repeats else timings[0], result


def report_queries(busiest: str, day: tuple[datetime, datetime], year: tuple[datetime, datetime],
                   now: datetime) -> tuple[Callable[..., Awaitable[Any]], ...]:
    """The timed report queries, the same for every backend: a community's daily tally, the 20:00
    job's tally with its seven grids, and the yearly ranking."""

    async def daily(tx: Any, community: str = busiest) -> Any:
        return await tally(tx, community, *day, now=now)

    async def daily_with_grids(tx: Any) -> Any:
        out = [await tally(tx, busiest, *day, now=now)]
        for k in range(1, 8):
            out.append(await tally(tx, busiest, *day, now=now, grid=f"第{k}网格"))
        return out

    async def yearly(tx: Any, community: str = busiest) -> Any:
        return await ranking(tx, community, *year)

    return daily, daily_with_grids, yearly


async def bench_reports(sizes: Sizes, work: Path, results: Results) -> None:
    config = demo_config()
    path = work / "city.db"
    repo = SqliteRepository(str(path))
    await repo.open()  # the schema, through the migrations
    await repo.close()
    started = time.perf_counter()
    made = generate_city(path, sizes, config.tz)
    generated = time.perf_counter() - started
    now = datetime.fromtimestamp(made["now"], config.tz)
    day = period_bounds(now, "day")
    year = period_bounds(now, "year")
    names = community_names(sizes.communities)
    busiest, typical = names[0], names[len(names) // 2]
    repo = SqliteRepository(str(path))
    await repo.open()
    try:
        assert repo._db is not None
        size = path.stat().st_size
        (count,), = await repo._db.execute_fetchall("SELECT COUNT(*) FROM orders")
        (in_busiest,), = await repo._db.execute_fetchall(
            "SELECT COUNT(*) FROM orders WHERE community = ? AND done_at >= ? AND done_at < ?",
            (busiest, year[0].timestamp(), year[1].timestamp()))
        results.checks.update(report_orders=count, report_workers=made["workers"])
        figures: dict[str, tuple[float, float]] = {}

        daily, daily_with_grids, yearly = report_queries(busiest, day, year, now)

        first, median, tallied = await time_query(sizes.query_repeats, daily, repo)
        figures["daily"] = (first, median)
        _, median_grids, _ = await time_query(sizes.query_repeats, daily_with_grids, repo)
        first_r, median_r, ranked = await time_query(sizes.query_repeats, yearly, repo)
        figures["yearly"] = (first_r, median_r)
        _, typical_daily, _ = await time_query(sizes.query_repeats, lambda tx: daily(tx, typical), repo)
        _, typical_yearly, _ = await time_query(sizes.query_repeats, lambda tx: yearly(tx, typical), repo)
        results.checks.update(report_tally=tallied.counts, report_ranking=[(r.name, r.done) for r in ranked],
                              report_busiest_done=in_busiest)
        indexes = [r[0] for r in await repo._db.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' ORDER BY name")]
        # for comparison: what the ranking loaded before (every done order of the year and, one query
        # each, its taker), and the tally with the indexes as they were before migration 003
        async def load_year(tx: Any) -> Any:
            return await tx.find_orders(busiest, statuses=("done",), time_column="done_at",
                                        start=year[0].timestamp(), end=year[1].timestamp())

        _, old_yearly, _ = await time_query(max(1, sizes.query_repeats // 4), load_year, repo)
        for name in ("orders_dispatched", "orders_taken_how", "orders_cancelled", "orders_open"):
            await repo._db.execute(f"DROP INDEX {name}")
        await repo._db.execute("CREATE INDEX orders_status ON orders (community, status)")
        _, without_daily, _ = await time_query(max(1, sizes.query_repeats // 4), daily, repo)
    finally:
        await repo.close()
    results.rows += [
        Row("reports", f"synthetic year: {count:,} orders, {made['workers']:,} workers, {sizes.communities} communities",
            f"{size / 1e6:,.0f} MB, generated in {generated:.1f} s"),
        Row("reports", f"daily tally, busiest community ({tallied.counts['posted']} orders that day), warm p50",
            ms(figures["daily"][1]), "< 50 ms", figures["daily"][1] < 0.050),
        Row("reports", "daily tally, busiest community, first (cold) run", ms(figures["daily"][0])),
        Row("reports", "the 20:00 tallies only (community + its 7 grids; the whole job: real day), warm p50",
            ms(median_grids)),
        Row("reports", f"yearly ranking, busiest community ({in_busiest:,} done orders), warm p50",
            ms(figures["yearly"][1]), "< 500 ms", figures["yearly"][1] < 0.500),
        Row("reports", "yearly ranking, busiest community, first (cold) run", ms(figures["yearly"][0])),
        Row("reports", "daily tally / yearly ranking, a median community", f"{ms(typical_daily)} / {ms(typical_yearly)}"),
        Row("reports", "for comparison: daily tally with the indexes before migration 003", ms(without_daily)),
        Row("reports", "for comparison: loading the year's done orders and their takers, as the ranking did before",
            ms(old_yearly)),
    ]
    results.notes["reports"] = (
        "Indexes on orders: " + ", ".join(indexes) + ". The daily tally is five COUNTs, each one range scan of a "
        "(community, time) index (covering for a whole community: no table rows are read), two GROUP BYs and the claim times of the "
        "day's taken orders through orders_created/orders_taken; its cost grows with the orders of that day, not "
        "with the size of the table. The yearly ranking reads every order the community completed that year "
        "through orders_done (community, done_at) and joins its taker: its cost is proportional to that "
        "community's year (two passes: the per-worker aggregate, then the claim times for the medians), so the "
        "busiest community is the worst case; the city's other communities are never read. Before migration 003 the "
        "dispatched/taken/cancelled counts and the list of unclaimed orders walked all of the community's orders, "
        "and before the aggregates the ranking loaded every done order with its taker, one query per order.")
    await bench_reports_pg(sizes, results)


async def bench_reports_pg(sizes: Sizes, results: Results) -> None:
    """The reports' PostgreSQL column: the same synthetic year COPYed into a fresh schema, the same
    report code; EXPLAIN ANALYZE of each statement the reports send, to show the indexes it uses."""
    if not results.pg_url:
        for match in ("synthetic year", "daily tally, busiest community (", "yearly ranking, busiest community ("):
            results.pg("reports", match, results.pg_missing.split(":")[0])
        return
    from benchmarks import pg

    config = demo_config()
    url = results.pg_url
    names = community_names(sizes.communities)
    busiest, typical = names[0], names[len(names) // 2]
    async with scratch_schema(url, "lg_bench") as schema:
        repo = pg.repository(url, schema)
        await repo.open()  # the schema, through the migrations
        try:
            started = time.perf_counter()
            made = await pg.load_city(url, schema, iter_city(sizes, config.tz))
            generated = time.perf_counter() - started
            now = datetime.fromtimestamp(made["now"], config.tz)
            day, year = period_bounds(now, "day"), period_bounds(now, "year")

            daily, daily_with_grids, yearly = report_queries(busiest, day, year, now)

            async def open_orders(tx: Any) -> Any:
                return await tx.find_orders(busiest, statuses=("posted", "dispatched"))

            async with repo.transaction() as tx:
                count = await tx.conn.fetchval("SELECT COUNT(*) FROM orders")
                in_busiest = await tx.conn.fetchval(
                    "SELECT COUNT(*) FROM orders WHERE community = $1 AND done_at >= $2 AND done_at < $3",
                    busiest, year[0].timestamp(), year[1].timestamp())
            first, median, tallied = await time_query(sizes.query_repeats, daily, repo)
            _, median_grids, _ = await time_query(sizes.query_repeats, daily_with_grids, repo)
            first_r, median_r, ranked = await time_query(sizes.query_repeats, yearly, repo)
            _, typical_daily, _ = await time_query(sizes.query_repeats, lambda tx: daily(tx, typical), repo)
            _, typical_yearly, _ = await time_query(sizes.query_repeats, lambda tx: yearly(tx, typical), repo)
            _, open_median, opened = await time_query(sizes.query_repeats, open_orders, repo)
            results.checks.update(pg_report_orders=count, pg_report_tally=tallied.counts,
                                  pg_report_ranking=[(r.name, r.done) for r in ranked])
            # the plans: every distinct statement the tally (with a grid), the ranking and the open list send
            plans: list[tuple[str, list[str], bool, float]] = []
            async with repo.transaction() as tx:
                statements = []
                for run in (daily, lambda tx: tally(tx, busiest, *day, now=now, grid="第1网格"), yearly, open_orders):
                    statements += [st for st in await pg.report_statements(tx, run) if st not in statements]
                for sql, args in statements:
                    if " orders" not in sql:
                        continue
                    used, seq, took = await pg.explain_indexes(tx.conn, sql, args)
                    plans.append((sql, used, seq, took))
            async with repo.transaction() as tx:
                indexes = [r["indexname"] for r in await tx.conn.fetch(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'orders' "
                    "ORDER BY indexname")]
            # for comparison: the tally with the indexes as they were before migration 003
            async with repo.transaction() as tx:
                for name in ("orders_dispatched", "orders_taken_how", "orders_cancelled", "orders_open"):
                    await tx.conn.execute(f"DROP INDEX {name}")
                await tx.conn.execute("CREATE INDEX orders_status ON orders (community, status)")
                await tx.conn.execute("ANALYZE orders")
            _, without_daily, _ = await time_query(max(1, sizes.query_repeats // 4), daily, repo)
        finally:
            await repo.close()
    results.checks["pg_plans"] = [(sql, used, seq) for sql, used, seq, _ in plans]
    results.pg("reports", "synthetic year", f"{made['bytes'] / 1e6:,.0f} MB (orders + workers with indexes), "
                                            f"COPY + indexes + VACUUM ANALYZE in {generated:.1f} s")
    results.pg("reports", "daily tally, busiest community (", ms(median))
    results.pg("reports", "daily tally, busiest community, first", ms(first))
    results.pg("reports", "the 20:00 tallies only", ms(median_grids))
    results.pg("reports", "yearly ranking, busiest community (", ms(median_r))
    results.pg("reports", "yearly ranking, busiest community, first", ms(first_r))
    results.pg("reports", "daily tally / yearly ranking, a median", f"{ms(typical_daily)} / {ms(typical_yearly)}")
    results.pg("reports", "open orders of the busiest community",
               f"{ms(open_median)} ({len(opened)} orders, their takers in one query)",
               "open orders of the busiest community (find_orders posted + dispatched), warm p50")
    results.pg("reports", "for comparison: daily tally with the indexes before", ms(without_daily))
    seq_scans = [sql for sql, _, seq, _ in plans if seq]
    ranking_server = sum(took for sql, _, _, took in plans if "o.status = 'done'" in sql)

    def short(sql: str) -> str:
        where = sql.split(" WHERE ", 1)[-1].split(" ORDER BY")[0].split(" GROUP BY")[0]
        return where.replace("?", "$")[:70]

    used_by = "; ".join(f"`{short(sql)}` -> {', '.join(used) or 'no index'} ({took:.2f} ms)"
                        for sql, used, _, took in plans)
    results.pg_notes["reports"] = (
        f"Indexes on orders: {', '.join(indexes)} (the same migrations; orders_status is gone since 003). "
        f"EXPLAIN ANALYZE of each statement the tally (with and without a grid), the ranking and the open-order "
        f"list send, on this data, names the index it scans: {used_by}. "
        + ("No statement scans the whole orders table, so " if not seq_scans else
           f"{len(seq_scans)} statement(s) scan the whole orders table; ")
        + "PostgreSQL needs no index beyond migration 003's (no migration 005). The tally's COUNTs are index "
        "range scans (index-only where marked: the table is vacuumed, so the visibility map lets them skip the "
        "heap); the daily tally executes in well under a millisecond on the server, and its warm time is the "
        "round trips (several statements, each sent, parsed, planned per call and answered over the socket) "
        "that SQLite answers in-process. The ranking reads only the community's done orders of the year "
        f"through the index named above and joins the workers: on the server its two statements take "
        f"{ranking_server:.0f} ms under EXPLAIN ANALYZE, the rest of its {ms(median_r)} is shipping "
        f"{in_busiest:,} rows twice to Python and turning them into records and medians, so like on SQLite its "
        "cost is that community's year and not the city's.")
