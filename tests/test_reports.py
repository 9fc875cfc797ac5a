"""The reports computed by the database (Tx.tally_counts, tally_groups, claim_durations,
ranking_rows) give exactly what the earlier order-by-order computation gave.

``reference_tally`` and ``reference_ranking`` are that earlier code (loading every order and its
taker through find_orders), kept here as the oracle; random order histories are compared.  Orders
staff assigned (指派, ``assigned_at``) are no claims: no claim time, counted apart, not ranked."""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from handlers.reports import RankRow, Tally, period_bounds, ranking, tally
from storage.sqlite import SqliteRepository
from tests.test_storage import pg_url, repo  # noqa: F401  (fixtures: both backends run the comparison)

COMMUNITIES = {"A": ["一网格", "二网格", "三网格"], "B": ["北网格"]}
CATEGORIES = ["搬家配送", "家电水电维修", "家政护工保洁", None, "其他"]


def _median(values):
    return statistics.median(values) if values else None


def _claim(order):
    """Seconds from dispatch to the claim, worked out here from the columns (not Order.claim_seconds)."""
    if order.assigned_at is not None or order.taken_at is None or order.dispatched_at is None:
        return None
    return max(0.0, order.taken_at - order.dispatched_at)


async def reference_tally(tx, community, start, end, *, now, grid=None) -> Tally:
    s, e = start.timestamp(), end.timestamp()
    counts = {}
    for key, column in (("posted", "created_at"), ("dispatched", "dispatched_at"), ("taken", "taken_at"),
                        ("done", "done_at"), ("cancelled", "cancelled_at")):
        counts[key] = len(await tx.find_orders(community, grid=grid, time_column=column, start=s, end=e))
    posted = await tx.find_orders(community, grid=grid, time_column="created_at", start=s, end=e)
    taken = await tx.find_orders(community, grid=grid, time_column="taken_at", start=s, end=e)
    claimed = [o for o in taken if o.assigned_at is None]
    assigned = [o for o in taken if o.assigned_at is not None]
    counts["taken"], counts["assigned"] = len(claimed), len(assigned)
    claims = [_claim(o) for o in claimed if _claim(o) is not None]
    waiting = await tx.find_orders(community, grid=grid, statuses=("dispatched",))
    takers = Counter(o.taker.name for o in claimed if o.taker is not None)
    return Tally(
        community=community, start=s, counts=counts,
        by_category=Counter(o.category for o in posted).most_common(),
        by_grid=Counter(o.grid for o in posted).most_common(),
        median_claim=_median(claims), slowest_claim=max(claims) if claims else None,
        unclaimed=[{"no": o.no, "age": now.timestamp() - (o.dispatched_at or o.created_at)} for o in waiting],
        top_takers=takers.most_common(5),
        top_assigned=Counter(o.taker.name for o in assigned if o.taker is not None).most_common(5),
    )


def _confirmed(order) -> bool:
    if order.rating is not None:
        return order.rating >= 3
    return order.followup_sent_at is not None


async def reference_ranking(tx, community, start, end, *, limit=10, confirmed_only=False) -> list[RankRow]:
    done = await tx.find_orders(community, statuses=("done",), time_column="done_at",
                                start=start.timestamp(), end=end.timestamp())
    per: dict[int, list] = defaultdict(list)
    for order in done:
        if order.taker is None or order.taker.status == "suspended":
            continue
        if confirmed_only and not _confirmed(order):
            continue
        per[order.taker.id].append(order)
    rows = []
    for everything in per.values():
        worker = everything[0].taker
        orders = [o for o in everything if o.assigned_at is None]
        if not orders:
            continue  # only assigned orders: not on 接单王
        claims = [_claim(o) for o in orders if _claim(o) is not None]
        ratings = [o.rating for o in orders if o.rating is not None]
        rows.append(RankRow(0, worker.name, worker.team, len(orders), _median(claims),
                            sum(ratings) / len(ratings) if ratings else None, len(everything) - len(orders)))
    rows.sort(key=lambda r: (-r.done, r.median_claim if r.median_claim is not None else float("inf"),
                             -(r.rating or 0), r.name))
    for i, row in enumerate(rows, 1):
        row.rank = i
    return rows[:limit]


async def random_history(tx, rng: random.Random, now: datetime) -> None:
    """Orders over two weeks before ``now`` in every state, with ties, gaps and odd cases."""
    workers = {}
    for community in COMMUNITIES:
        workers[community] = []
        for i in range(rng.randint(1, 8)):
            status = rng.choice(["active", "active", "active", "suspended", "pending"])
            workers[community].append(await tx.add_worker({
                "community": community, "name": f"{community}工{i}", "wechat": f"{community}w{i}",
                "phone": "13900000000", "skills": [], "team": rng.choice([None, "一队", "二队"]),
                "pledge_date": None, "status": status, "registered_at": 0.0}))
    base = now.timestamp() - 14 * 86400
    for community, grids in COMMUNITIES.items():
        for no in range(1, rng.randint(20, 120)):
            created = base + rng.randint(0, 14 * 86400)
            status = rng.choice(["posted", "dispatched", "taken", "done", "done", "done", "cancelled"])
            values = {"community": community, "no": no, "grid": rng.choice(grids), "source": "chat",
                      "status": status, "category": rng.choice(CATEGORIES), "raw_text": "x", "need_text": "x",
                      "resident_id": "r", "resident_name": "r", "created_at": float(created)}
            t = created
            if status != "posted" and not (status == "cancelled" and rng.random() < 0.5):
                t += rng.choice([0, 30, 600, 3600])
                values["dispatched_at"] = float(t) if rng.random() > 0.05 else None  # assigned before dispatch
            if status in ("taken", "done") or (status == "cancelled" and rng.random() < 0.3):
                taker = rng.choice(workers[community])
                t += rng.choice([0, 5, 5, 12, 40, 300, -10])  # equal times make ties; -10: clock skew
                values.update(taker_id=taker.id, taken_at=float(t))
                if rng.random() < 0.25:  # staff assigned it (指派): no claim
                    values["assigned_at"] = float(t)
            if status == "done":
                t += rng.randint(60, 7200)
                values.update(done_at=float(t), rating=rng.choice([None, None, 1, 2, 3, 4, 5]),
                              followup_sent_at=float(t + 7200) if rng.random() < 0.4 else None)
            if status == "cancelled":
                values["cancelled_at"] = float(t + rng.randint(1, 600))
            await tx.insert_order(values)


@pytest.mark.parametrize("seed", range(8), ids=[f"history-{s}" for s in range(8)])
async def test_reports_match_the_order_by_order_computation(repo, config, seed):  # noqa: F811
    now = datetime(2026, 11, 23, 20, 0, tzinfo=config.tz)
    rng = random.Random(seed)
    async with repo.transaction() as tx:
        await random_history(tx, rng, now)
    async with repo.transaction() as tx:
        for community, grids in COMMUNITIES.items():
            for day in range(15):
                moment = now - timedelta(days=day)
                start, end = period_bounds(moment, "day")
                for grid in (None, *grids):
                    got = await tally(tx, community, start, end, now=now, grid=grid)
                    want = await reference_tally(tx, community, start, end, now=now, grid=grid)
                    assert got == want, (community, day, grid)
            for period in ("day", "week", "month", "year"):
                start, end = period_bounds(now, period)
                for confirmed_only in (False, True):
                    for limit in (3, 10, 100):
                        got = await ranking(tx, community, start, end, limit=limit, confirmed_only=confirmed_only)
                        want = await reference_ranking(tx, community, start, end, limit=limit,
                                                       confirmed_only=confirmed_only)
                        assert got == want, (community, period, confirmed_only)


def reference_charts(orders, tz, start, end, limits, days) -> dict:
    """The stats page's charts as chart_data computed them order by order, before chart_counts."""
    done = [o for o in orders if o.status == "done" and o.done_at is not None and start <= o.done_at < end]
    taken = [o for o in orders if o.taken_at is not None and start <= o.taken_at < end]
    buckets = Counter()
    for o in taken:
        if (seconds := _claim(o)) is not None:
            buckets[next(i for i, limit in enumerate(limits) if seconds < limit)] += 1
    local = [datetime.fromtimestamp(o.created_at, tz).date() for o in orders]
    finished = [datetime.fromtimestamp(o.done_at, tz).date() for o in orders if o.done_at is not None]
    return {"per_worker": Counter(o.taker.name for o in done if o.taker is not None).most_common(15),
            "claims": [buckets[i] for i in range(len(limits))], "assigned": sum(o.assigned_at is not None for o in taken),
            "posted": [local.count(d) for d in days], "done": [finished.count(d) for d in days]}


@pytest.mark.parametrize("seed", range(4), ids=[f"history-{s}" for s in range(4)])
async def test_charts_and_worker_figures_match_the_order_by_order_computation(repo, config, seed):  # noqa: F811
    from bot.web.queries import CLAIM_LIMITS

    now = datetime(2026, 11, 23, 20, 0, tzinfo=config.tz)
    rng = random.Random(100 + seed)
    async with repo.transaction() as tx:
        await random_history(tx, rng, now)
    first = (now - timedelta(days=13)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(first + timedelta(days=i)).date() for i in range(14)]
    edges = [datetime.combine(d, datetime.min.time(), config.tz).timestamp() for d in days]
    edges.append(edges[-1] + 86400)
    async with repo.transaction() as tx:
        for community in COMMUNITIES:
            orders = await tx.find_orders(community)
            for period in ("week", "month"):
                start, end = (t.timestamp() for t in period_bounds(now, period))
                got = await tx.chart_counts(community, start, end, CLAIM_LIMITS, edges)
                want = reference_charts(orders, config.tz, start, end, CLAIM_LIMITS, days)
                assert got == want, (community, period)
            month_start, month_end = (t.timestamp() for t in period_bounds(now, "month"))
            since = now.timestamp() - 10 * 86400
            figures = await tx.worker_activity(community, month_start, month_end, since)
            for worker in await tx.list_workers(community):
                mine = [o for o in orders if o.taker_id == worker.id]
                claims = [_claim(o) for o in mine if o.taken_at is not None and o.taken_at >= since
                          and _claim(o) is not None]
                want = {"active": sum(o.status == "taken" for o in mine),
                        "done": sum(o.status == "done" and month_start <= o.done_at < month_end for o in mine),
                        "median_claim": _median(claims)}
                assert figures.get(worker.id, {"active": 0, "done": 0, "median_claim": None}) == want, worker.name


async def test_report_queries_use_the_indexes(tmp_path):
    """Each tally count is a range scan of a (community, time) index, never of the table; the open
    orders of a community come in number order from their own index, not from a walk over all."""
    repo = SqliteRepository(str(tmp_path / "plan.db"))
    await repo.open()
    db = repo._db
    try:
        for column in ("created_at", "dispatched_at", "taken_at", "done_at", "cancelled_at"):
            plan = " ".join(r[3] for r in await db.execute_fetchall(
                f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM orders WHERE community = ? AND {column} >= ? "
                f"AND {column} < ?", ("A", 0, 1)))
            assert "USING COVERING INDEX" in plan and f"community=? AND {column}>? AND {column}<?" in plan, plan
        for claimed in ("IS NULL", "IS NOT NULL"):  # the tally's claims (接N) and assignments (指派)
            plan = " ".join(r[3] for r in await db.execute_fetchall(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM orders WHERE community = ? AND taken_at >= ? "
                f"AND taken_at < ? AND assigned_at {claimed}", ("A", 0, 1)))
            assert "USING COVERING INDEX orders_taken_how" in plan, plan
        plan = " ".join(r[3] for r in await db.execute_fetchall(
            "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE community = ? AND status IN (?) ORDER BY community, no",
            ("A", "dispatched")))
        assert plan == "SEARCH orders USING INDEX orders_open (community=? AND status=?)", plan
    finally:
        await repo.close()


NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"


async def test_an_assignment_is_not_a_zero_second_claim(chat, grid1, market):
    """Issue 16 (honest times): a 指派 used to count as a claim taking 0 seconds, so the order that
    waited longest looked fastest: it pulled the median 接单用时 down and put its taker first on
    接单王.  Times, medians and 接单王 count claims only; the assignment is counted as 指派."""
    for no in (1, 2, 3):
        await grid1.say("张阿姨", NEED)
        await grid1.say("杨先媚", f"派单{no}")
    chat.clock.advance(30)
    await market.say("熊明祥", "接1")  # 30 s
    chat.clock.advance(60)
    await market.say("韩德明", "接2")  # 90 s
    chat.clock.advance(3600)
    await grid1.say("杨先媚", "指派 3 @曹志强")  # nobody claimed it for an hour
    for who, no in (("熊明祥", 1), ("韩德明", 2), ("曹志强", 3)):
        await market.say(who, f"完成{no}")
    assigned, claimed = await chat.order(3), await chat.order(1)
    assert assigned.assigned and assigned.claim_seconds is None and assigned.taker.name == "曹志强"
    assert not claimed.assigned and claimed.claim_seconds == 30
    now = chat.clock.now()
    start, end = period_bounds(now, "day")
    async with chat.repo.transaction() as tx:
        t = await tally(tx, "洗马社区", start, end, now=now)
        rows = await ranking(tx, "洗马社区", start, end)
    assert (t.counts["taken"], t.counts["assigned"]) == (2, 1)
    assert (t.median_claim, t.slowest_claim) == (60, 90), "not a median of 30 with a 0-second claim"
    assert t.top_takers == [("熊明祥", 1), ("韩德明", 1)] and t.top_assigned == [("曹志强", 1)]
    assert [(r.rank, r.name, r.done, r.median_claim, r.assigned) for r in rows] == [
        (1, "熊明祥", 1, 30, 0), (2, "韩德明", 1, 90, 0)], "曹志强 was assigned, not the fastest claimer"
    text = (await grid1.say("杨先媚", "今日统计"))[0].text
    assert "接单 2　指派 1　完成 3" in text
    assert "接单用时：中位 1 分钟，最慢 1 分 30 秒（只算群里抢单，指派不计）" in text
    assert "今日接单：熊明祥 1单，韩德明 1单" in text and "今日指派：曹志强 1单" in text
    board = (await market.say("熊明祥", "接单王 今日"))[0].text
    assert "只算群里抢单" in board and "1. 熊明祥" in board and "2. 韩德明" in board and "曹志强" not in board
    show = (await grid1.say("杨先媚", "查3"))[0].text
    assert "接单师傅：曹志强" in show and "网格员指派" in show and "用时" not in show


async def test_an_assigned_order_put_back_in_the_market_and_claimed_is_a_claim(chat, grid1, market):
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单1")
    await grid1.say("杨先媚", "指派 1 @熊师傅")
    assert (await chat.order(1)).assigned
    await grid1.say("杨先媚", "改派 1")
    assert not (await chat.order(1)).assigned, "back in the market: no longer assigned"
    chat.clock.advance(20)
    await market.say("韩德明", "接1")
    await market.say("韩德明", "完成1")
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "指派 2 @韩德明")  # straight from 待派单
    await market.say("韩德明", "放弃2")
    chat.clock.advance(5)
    await market.say("熊明祥", "接2")
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "指派 3 @韩德明")
    await market.say("韩德明", "完成3")
    first, second, third = [await chat.order(n) for n in (1, 2, 3)]
    assert (first.assigned, first.claim_seconds, first.taker.name) == (False, 20, "韩德明")
    assert (second.assigned, second.claim_seconds, second.taker.name) == (False, 5, "熊明祥")
    assert (third.assigned, third.claim_seconds) == (True, None)
    now = chat.clock.now()
    start, end = period_bounds(now, "day")
    async with chat.repo.transaction() as tx:
        t = await tally(tx, "洗马社区", start, end, now=now)
        (row,) = await ranking(tx, "洗马社区", start, end)
    assert (t.counts["taken"], t.counts["assigned"], t.median_claim) == (2, 1, 12.5)
    assert (row.name, row.done, row.assigned, row.median_claim) == ("韩德明", 1, 1, 20)
    text = (await market.say("熊明祥", "接单王 今日"))[0].text
    assert "1. 韩德明（水电一队） 完成 1 单，另有指派 1 单，接单中位 20 秒" in text
