"""Queries (any group or direct chat): help, one order, open orders, my orders, tally, ranking."""

from __future__ import annotations

from handlers.base import POSTER, STAFF, TAKER, Context, route
from handlers.commands import (
    Help,
    Malformed,
    MyOrders,
    OpenOrders,
    Ranking,
    Show,
    Tally,
)
from handlers.common import card, worker_public
from handlers.reports import period_bounds, ranking, tally
from storage.models import Order
from storage.status import ACTIVE, Status


async def help_(ctx: Context, cmd: Help) -> None:
    worker = await ctx.worker()
    role = ("staff" if ctx.is_staff() and ctx.community is not None
            else "worker" if worker is not None and worker.status == "active" else "resident")
    ctx.reply("help", role=role, in_market=ctx.in_market)


async def show(ctx: Context, cmd: Show, order: Order) -> None:
    """The poster, the community's staff, the taker and admins see the order's progress (taker,
    rating, timeline); anyone else only what the market card shows."""
    if not (await ctx.holds(frozenset({STAFF, POSTER, TAKER}), order) or ctx.directory.is_admin(ctx.sender_id)):
        ctx.reply("order_status", order=card(ctx, order), status=order.status, limited=True)
        return
    events = await ctx.tx.events_for(order.id)
    ctx.reply("order_status", order=card(ctx, order), status=order.status, limited=False,
              taker=worker_public(order.taker),
              seconds=order.claim_seconds, assigned=order.assigned, rating=order.rating,
              timeline=[{"at": e.at, "kind": e.kind} for e in events])


async def open_orders(ctx: Context, cmd: OpenOrders) -> None:
    assert ctx.community is not None
    orders = await ctx.tx.find_orders(ctx.community.name, statuses=(Status.DISPATCHED,))
    ctx.reply("open_orders", orders=[dict(card(ctx, o), age=ctx.ts - (o.dispatched_at or o.created_at))
                                     for o in orders])


async def my_orders(ctx: Context, cmd: MyOrders) -> None:
    assert ctx.community is not None
    worker = await ctx.worker()
    if worker is not None:
        orders = await ctx.tx.find_orders(ctx.community.name, taker_id=worker.id, statuses=(Status.TAKEN,))
        role = "worker"
    else:
        orders = await ctx.tx.find_orders(ctx.community.name, resident_id=ctx.msg.sender_id,
                                          statuses=(*ACTIVE, Status.DONE))
        orders = [o for o in orders if o.status != Status.DONE or o.rating is None]
        role = "resident"
    ctx.reply("my_orders", role=role, orders=[dict(card(ctx, o), status=o.status,
                                                   taker=worker_public(o.taker)) for o in orders])


async def today(ctx: Context, cmd: Tally) -> None:
    assert ctx.community is not None
    start, end = period_bounds(ctx.now, "day")
    data = await tally(ctx.tx, ctx.community.name, start, end, now=ctx.now)
    ctx.reply("tally", t=data.as_data(), late=False, grid=None)


async def rank(ctx: Context, cmd: Ranking) -> None:
    assert ctx.community is not None
    start, end = period_bounds(ctx.now, cmd.period)
    rows = await ranking(ctx.tx, ctx.community.name, start, end)
    ctx.reply("ranking", period=cmd.period, rows=[r.__dict__ for r in rows], start=start.timestamp(),
              end=end.timestamp(), late=False, final=False, awards=[])


async def malformed(ctx: Context, cmd: Malformed) -> None:
    if cmd.detail is not None and cmd.detail.isdigit() and int(cmd.detail) > 10**9:  # beyond any order
        ctx.reply("refuse", reason="no_such_order", no=cmd.detail)
        return
    ctx.reply("usage", command=cmd.command, usage=cmd.usage, detail=cmd.detail)


ROUTES = [
    route(Help, help_),
    route(Show, show, order=True),
    route(OpenOrders, open_orders, community=True),
    route(MyOrders, my_orders, community=True),
    route(Tally, today, community=True),
    route(Ranking, rank, community=True),
    route(Malformed, malformed),
]
