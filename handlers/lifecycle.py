"""After the claim: completion, release, and the resident's rating."""

from __future__ import annotations

from handlers.base import Context
from handlers.commands import Complete, Rate, Release
from handlers.common import is_worker_of, load_order, post_card, transition
from storage.models import Order


async def _taken_by_sender(ctx: Context, no: int) -> Order | None:
    """The order if it is taken and the sender is its taker or staff; otherwise reply why not."""
    if (order := await load_order(ctx, no)) is None:
        return None
    if not ctx.is_staff() and not is_worker_of(await ctx.worker(), order):
        ctx.reply("refuse", reason="not_taker", no=order.no)
        return None
    if order.status != "taken":
        ctx.reply("refuse", reason="not_taken" if order.status in ("posted", "dispatched")
                  else f"already_{order.status}", no=order.no)
        return None
    return order


async def complete(ctx: Context, cmd: Complete) -> None:
    if (order := await _taken_by_sender(ctx, cmd.no)) is None:
        return
    if not await transition(ctx, order, {"status": "done", "done_at": ctx.ts}, ("taken",),
                            {"taker_id": order.taker_id}):
        return
    await ctx.audit(order, "done", "")
    ctx.reply("complete_ok", no=order.no)
    room = ctx.order_room(order)
    if room is not None and order.source != "proxy":
        ctx.to_room(room, "rate_request", mentions=(order.resident_id,), no=order.no,
                    worker=order.taker.name if order.taker else "")


async def release(ctx: Context, cmd: Release) -> None:
    if (order := await _taken_by_sender(ctx, cmd.no)) is None:
        return
    previous = order.taker
    if not await transition(ctx, order, {"status": "dispatched", "taker_id": None, "taken_at": None,
                                         "dispatched_at": ctx.ts, "escalation_level": 0, "escalated_at": None,
                                         "stale_reminded_at": None}, ("taken",), {"taker_id": order.taker_id}):
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "released", previous.name if previous else "")
    if not ctx.in_market:
        ctx.reply("release_ok", no=order.no)
    await post_card(ctx, order, "again")


async def rate(ctx: Context, cmd: Rate) -> None:
    if (order := await load_order(ctx, cmd.no)) is None:
        return
    staff = ctx.is_staff()
    if order.resident_id != ctx.msg.sender_id and not staff:
        ctx.reply("refuse", reason="not_yours", no=order.no)
        return
    if order.status != "done":
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


ROUTES = {Complete: complete, Release: release, Rate: rate}
