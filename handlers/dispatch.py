"""Dispatch (网格员派单): staff send orders to the market group, assign, take back, cancel."""

from __future__ import annotations

from handlers.base import Context
from handlers.commands import Assign, Cancel, Dispatch, Redispatch
from handlers.common import (
    MAX_REMARK, announce_taken, clip, find_worker_named, load_order, post_card, refuse_unless_staff, transition,
    worker_refusal,
)


async def dispatch(ctx: Context, cmd: Dispatch) -> None:
    if refuse_unless_staff(ctx) or (order := await load_order(ctx, cmd.no)) is None:
        return
    if order.status != "posted":
        ctx.reply("refuse", reason=f"already_{order.status}", no=order.no)
        return
    values = {"status": "dispatched", "dispatched_at": ctx.ts, "dispatcher": ctx.sender}
    if cmd.reward:
        values["reward"] = cmd.reward
    note = clip(cmd.note, MAX_REMARK)
    if note:
        values["note"] = note
    if not await transition(ctx, order, values, ("posted",)):
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "dispatched", " ".join(filter(None, [cmd.reward, note])))
    await post_card(ctx, order, "new")
    if not ctx.in_market:
        ctx.reply("dispatch_ok", no=order.no, market=ctx.market_room())


async def assign(ctx: Context, cmd: Assign) -> None:
    if refuse_unless_staff(ctx) or (order := await load_order(ctx, cmd.no)) is None:
        return
    if order.status not in ("posted", "dispatched"):
        ctx.reply("refuse", reason=f"already_{order.status}", no=order.no)
        return
    worker = await find_worker_named(ctx, cmd.worker)
    if worker is None:
        ctx.reply("refuse", reason="no_such_worker", name=cmd.worker)
        return
    reason = await worker_refusal(ctx, worker, order)
    if reason is not None:
        ctx.reply("refuse", reason=f"assign_{reason}", name=worker.name, no=order.no)
        return
    values = {"status": "taken", "taker_id": worker.id, "taken_at": ctx.ts,
              "dispatched_at": order.dispatched_at or ctx.ts, "dispatcher": order.dispatcher or ctx.sender}
    if not await transition(ctx, order, values, ("posted", "dispatched")):
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "assigned", worker.name)
    await announce_taken(ctx, order, worker, "assign")
    if not ctx.in_market:
        ctx.reply("assign_ok", no=order.no, name=worker.name)


async def redispatch(ctx: Context, cmd: Redispatch) -> None:
    if refuse_unless_staff(ctx) or (order := await load_order(ctx, cmd.no)) is None:
        return
    if order.status not in ("dispatched", "taken"):
        ctx.reply("refuse", reason="not_taken" if order.status == "posted" else f"already_{order.status}",
                  no=order.no)
        return
    previous = order.taker
    if not await transition(ctx, order, {"status": "dispatched", "taker_id": None, "taken_at": None,
                                         "dispatched_at": ctx.ts, "escalation_level": 0, "escalated_at": None,
                                         "stale_reminded_at": None}, ("dispatched", "taken")):
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "redispatched", previous.name if previous else "")
    if previous is not None:
        ctx.to_contact(previous.wechat, "taken_back", no=order.no, by=ctx.sender)
    await post_card(ctx, order, "again")
    if not ctx.in_market:
        ctx.reply("dispatch_ok", no=order.no, market=ctx.market_room())


async def cancel(ctx: Context, cmd: Cancel) -> None:
    """Staff cancel any open order; the resident who posted it may cancel until it is taken."""
    if (order := await load_order(ctx, cmd.no)) is None:
        return
    staff = ctx.is_staff()
    own = order.resident_id == ctx.msg.sender_id and order.source != "proxy"
    if not staff and not own:
        ctx.reply("refuse", reason="not_yours", no=order.no)
        return
    allowed = ("posted", "dispatched", "taken") if staff else ("posted", "dispatched")
    if order.status not in allowed:
        reason = "resident_cancel_taken" if order.status == "taken" else f"already_{order.status}"
        ctx.reply("refuse", reason=reason, no=order.no)
        return
    was = order.status
    reason = clip(cmd.reason, MAX_REMARK)
    if not await transition(ctx, order, {"status": "cancelled", "cancelled_at": ctx.ts,
                                         "cancel_reason": reason}, allowed):
        return
    await ctx.audit(order, "cancelled", reason or "")
    ctx.reply("cancel_ok", no=order.no, reason=reason)
    if was in ("dispatched", "taken") and not ctx.in_market:
        ctx.to_room(ctx.market_room(), "cancelled_market", no=order.no)
    if order.taker is not None:
        ctx.to_contact(order.taker.wechat, "cancelled_taker", no=order.no, reason=reason)
    room = ctx.order_room(order)
    if staff and not own and room is not None and room != (ctx.room.key if ctx.room else None):
        ctx.to_room(room, "cancelled_resident", mentions=(order.resident_id,), no=order.no, reason=reason)


ROUTES = {Dispatch: dispatch, Assign: assign, Redispatch: redispatch, Cancel: cancel}
