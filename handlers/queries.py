"""Queries (any group or direct chat): help, one order, open orders, my orders, tally, ranking."""

from __future__ import annotations

from bot.reports import period_bounds, ranking, tally
from handlers.base import Context
from handlers.commands import Help, Malformed, MyOrders, OpenOrders, Ranking, Show, Tally
from handlers.common import card, load_order, worker_public


async def help_(ctx: Context, cmd: Help) -> None:
    worker = await ctx.worker()
    role = ("staff" if ctx.is_staff() and ctx.community is not None
            else "worker" if worker is not None and worker.status == "active" else "resident")
    ctx.reply("help", role=role, in_market=ctx.in_market)


async def show(ctx: Context, cmd: Show) -> None:
    if (order := await load_order(ctx, cmd.no)) is None:
        return
    events = await ctx.tx.events_for(order.id)
    ctx.reply("order_status", order=card(ctx, order), status=order.status, taker=worker_public(order.taker),
              seconds=order.claim_seconds, rating=order.rating,
              timeline=[{"at": e.at, "kind": e.kind} for e in events])


async def open_orders(ctx: Context, cmd: OpenOrders) -> None:
    if ctx.community is None:
        ctx.reply("refuse", reason="no_community")
        return
    orders = await ctx.tx.find_orders(ctx.community.name, statuses=("dispatched",))
    ctx.reply("open_orders", orders=[dict(card(ctx, o), age=ctx.ts - (o.dispatched_at or o.created_at))
                                     for o in orders])


async def my_orders(ctx: Context, cmd: MyOrders) -> None:
    if ctx.community is None:
        ctx.reply("refuse", reason="no_community")
        return
    worker = await ctx.worker()
    if worker is not None:
        orders = await ctx.tx.find_orders(ctx.community.name, taker_id=worker.id, statuses=("taken",))
        role = "worker"
    else:
        orders = await ctx.tx.find_orders(ctx.community.name, resident_id=ctx.msg.sender_id,
                                          statuses=("posted", "dispatched", "taken", "done"))
        orders = [o for o in orders if o.status != "done" or o.rating is None]
        role = "resident"
    ctx.reply("my_orders", role=role, orders=[dict(card(ctx, o), status=o.status,
                                                   taker=worker_public(o.taker)) for o in orders])


async def today(ctx: Context, cmd: Tally) -> None:
    if ctx.community is None:
        ctx.reply("refuse", reason="no_community")
        return
    start, end = period_bounds(ctx.now, "day")
    data = await tally(ctx.tx, ctx.community.name, start, end, now=ctx.now)
    ctx.reply("tally", t=data.as_data(), late=False, grid=None)


async def rank(ctx: Context, cmd: Ranking) -> None:
    if ctx.community is None:
        ctx.reply("refuse", reason="no_community")
        return
    start, end = period_bounds(ctx.now, cmd.period)
    rows = await ranking(ctx.tx, ctx.community.name, start, end)
    ctx.reply("ranking", period=cmd.period, rows=[r.__dict__ for r in rows], start=start.timestamp(),
              end=end.timestamp(), late=False, final=False, awards=[])


async def malformed(ctx: Context, cmd: Malformed) -> None:
    if cmd.detail is not None and cmd.detail.isdigit() and int(cmd.detail) > 10**9:  # beyond any order
        ctx.reply("refuse", reason="no_such_order", no=cmd.detail)
        return
    ctx.reply("usage", command=cmd.command, usage=cmd.usage, detail=cmd.detail)


ROUTES = {Help: help_, Show: show, OpenOrders: open_orders, MyOrders: my_orders, Tally: today,
          Ranking: rank, Malformed: malformed}
