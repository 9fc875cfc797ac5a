"""After the claim: completion, release, and the resident's rating."""

from __future__ import annotations

from handlers.base import POSTER, STAFF, TAKER, Context, route
from handlers.commands import Complete, Rate, Release
from handlers.common import addressee, post_card, resident_mentions, transition
from storage.models import Order
from storage.status import OPEN, Status, back_to_market


def _still_taken(ctx: Context, order: Order) -> bool:
    """True if the order is taken; otherwise reply why it cannot be completed or released."""
    if order.status == Status.TAKEN:
        return True
    ctx.reply("refuse", reason="not_taken" if order.status in OPEN else f"already_{order.status}", no=order.no)
    return False


async def complete(ctx: Context, cmd: Complete, order: Order) -> None:
    if not _still_taken(ctx, order):
        return
    if not await transition(ctx, order, {"status": Status.DONE, "done_at": ctx.ts}, (Status.TAKEN,),
                            {"taker_id": order.taker_id}):
        return
    await ctx.audit(order, "done", "")
    ctx.reply("complete_ok", no=order.no)
    room = ctx.order_room(order)
    if room is not None and order.source != "proxy":
        ctx.to_room(room, "rate_request", mentions=resident_mentions(order), addressee=addressee(order),
                    resident=order.resident_name, no=order.no,
                    worker=order.taker.name if order.taker else "")


async def release(ctx: Context, cmd: Release, order: Order) -> None:
    if not _still_taken(ctx, order):
        return
    previous = order.taker
    if not await transition(ctx, order, back_to_market(ctx.ts), (Status.TAKEN,), {"taker_id": order.taker_id}):
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "released", previous.name if previous else "")
    if not ctx.in_market:
        ctx.reply("release_ok", no=order.no)
    await post_card(ctx, order, "again")


async def rate(ctx: Context, cmd: Rate, order: Order) -> None:
    if order.status != Status.DONE:
        ctx.reply("refuse", reason="rate_not_done", no=order.no)
        return
    await ctx.tx.update_order(order.id, {"rating": cmd.score, "rated_at": ctx.ts})
    await ctx.audit(order, "rated", str(cmd.score))
    ctx.reply("rate_ok", no=order.no, score=cmd.score, satisfied=cmd.satisfied)
    if not cmd.satisfied and ctx.community is not None:
        staff_ids = tuple(ctx.directory.staff_ids(ctx.community, order.grid))
        room = ctx.order_room(order)
        if room is not None:
            ctx.to_room(room, "unsatisfied_alert", mentions=staff_ids, no=order.no, score=cmd.score,
                        worker=order.taker.name if order.taker else "")


ROUTES = [
    route(Complete, complete, who=(STAFF, TAKER), order=True, denied="not_taker"),
    route(Release, release, who=(STAFF, TAKER), order=True, denied="not_taker"),
    route(Rate, rate, who=(STAFF, POSTER), order=True, denied="not_yours"),
]
