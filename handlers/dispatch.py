"""Dispatch (网格员派单): staff send orders to the market group, assign, take back, cancel."""

from __future__ import annotations

from handlers import intake, review
from handlers.base import POSTER, STAFF, Context, route
from handlers.commands import Assign, Cancel, Dispatch, Redispatch
from handlers.common import (
    MAX_REMARK,
    addressee,
    announce_taken,
    clip,
    find_worker_named,
    post_card,
    resident_mentions,
    transition,
    worker_refusal,
)
from storage.models import Order
from storage.status import ACTIVE, OPEN, Status, back_to_market


async def dispatch(ctx: Context, cmd: Dispatch, order: Order) -> None:
    """派单N: a posted order (or a 待确认 one, which this confirms) goes to the market group."""
    if order.status not in (Status.POSTED, Status.PENDING_REVIEW):
        ctx.reply("refuse", reason=f"already_{order.status}", no=order.no)
        return
    values = {"status": Status.DISPATCHED, "dispatched_at": ctx.ts, "dispatcher": ctx.sender}
    if cmd.reward:
        values["reward"] = cmd.reward
    note = clip(cmd.note, MAX_REMARK)
    if note:
        values["note"] = note
    if not await transition(ctx, order, values, (order.status,)):
        return
    pending = order.status == Status.PENDING_REVIEW
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    if pending:
        await review.confirmed(ctx, order, "dispatched")
        intake.acknowledge(ctx, order, ctx.order_room(order), mention=order.resident_id, proxy=False, auto=True)
    await ctx.audit(order, "dispatched", " ".join(filter(None, [cmd.reward, note])))
    await post_card(ctx, order, "new")
    if not ctx.in_market:
        ctx.reply("dispatch_ok", no=order.no, market=ctx.market_room())


async def assign(ctx: Context, cmd: Assign, order: Order) -> None:
    if order.status not in (*OPEN, Status.PENDING_REVIEW):
        ctx.reply("refuse", reason=f"already_{order.status}", no=order.no)
        return
    worker = await find_worker_named(ctx, cmd.worker, cmd.worker_id)
    if worker is None:
        ctx.reply("refuse", reason="no_such_worker", name=cmd.worker)
        return
    if not worker.bound:  # the details would go to a nickname: never
        ctx.reply("refuse", reason="assign_unbound", name=worker.name)
        return
    reason = await worker_refusal(ctx, worker, order)
    if reason is not None:
        ctx.reply("refuse", reason=f"assign_{reason}", name=worker.name, no=order.no)
        return
    # assigned_at marks it as no claim: the reports give it no time-to-claim (it is not a 0-second one)
    values = {"status": Status.TAKEN, "taker_id": worker.id, "taken_at": ctx.ts, "assigned_at": ctx.ts,
              "dispatched_at": order.dispatched_at or ctx.ts, "dispatcher": order.dispatcher or ctx.sender}
    if not await transition(ctx, order, values, (order.status,)):
        return
    pending = order.status == Status.PENDING_REVIEW
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    if pending:
        await review.confirmed(ctx, order, "assigned")
    await ctx.audit(order, "assigned", worker.name)
    await announce_taken(ctx, order, worker, "assign")
    if not ctx.in_market:
        ctx.reply("assign_ok", no=order.no, name=worker.name)


async def redispatch(ctx: Context, cmd: Redispatch, order: Order) -> None:
    if order.status not in (Status.DISPATCHED, Status.TAKEN):
        ctx.reply("refuse", reason="not_taken" if order.status == Status.POSTED else f"already_{order.status}",
                  no=order.no)
        return
    previous = order.taker
    if not await transition(ctx, order, back_to_market(ctx.ts), (Status.DISPATCHED, Status.TAKEN)):
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "redispatched", previous.name if previous else "")
    if previous is not None and previous.bound:
        ctx.to_contact(previous.wechat, "taken_back", no=order.no, by=ctx.sender)
    await post_card(ctx, order, "again")
    if not ctx.in_market:
        ctx.reply("dispatch_ok", no=order.no, market=ctx.market_room())


async def cancel(ctx: Context, cmd: Cancel, order: Order) -> None:
    """Staff cancel any open order; the resident who posted it may cancel until it is taken."""
    staff = await ctx.holds(frozenset({STAFF}))
    own = await ctx.holds(frozenset({POSTER}), order)
    allowed = (*ACTIVE, Status.PENDING_REVIEW) if staff else OPEN
    if order.status not in allowed:
        reason = "resident_cancel_taken" if order.status == Status.TAKEN else f"already_{order.status}"
        ctx.reply("refuse", reason=reason, no=order.no)
        return
    was = order.status
    reason = clip(cmd.reason, MAX_REMARK)
    if not await transition(ctx, order, {"status": Status.CANCELLED, "cancelled_at": ctx.ts,
                                         "cancel_reason": reason}, allowed):
        return
    await ctx.audit(order, "cancelled", reason or "")
    ctx.reply("cancel_ok", no=order.no, reason=reason)
    if was in (Status.DISPATCHED, Status.TAKEN) and not ctx.in_market:
        ctx.to_room(ctx.market_room(), "cancelled_market", no=order.no)
    if order.taker is not None and order.taker.bound:
        ctx.to_contact(order.taker.wechat, "cancelled_taker", no=order.no, reason=reason)
    room = ctx.order_room(order)
    if staff and not own and room is not None and room != (ctx.room.key if ctx.room else None):
        ctx.to_room(room, "cancelled_resident", mentions=resident_mentions(order), addressee=addressee(order),
                    resident=order.resident_name, no=order.no, reason=reason)


ROUTES = [
    route(Dispatch, dispatch, who=STAFF, order=True),
    route(Assign, assign, who=STAFF, order=True),
    route(Redispatch, redispatch, who=STAFF, order=True),
    route(Cancel, cancel, who=(STAFF, POSTER), order=True, denied="not_yours"),
]
