"""Claims (零工接单): the first valid ``接12`` in the market group takes the order."""

from __future__ import annotations

from handlers.base import ACTIVE_WORKER, MARKET, Context, Notice, route
from handlers.commands import Claim
from handlers.common import announce_taken, worker_refusal
from storage.models import Order
from storage.status import Status


async def _which(ctx: Context, no: int | None) -> int | None:
    """Resolve a bare claim to the only open order, or ask which one."""
    if no is not None:
        return no
    assert ctx.community is not None
    open_orders = await ctx.tx.find_orders(ctx.community.name, statuses=(Status.DISPATCHED,))
    if len(open_orders) == 1:
        return open_orders[0].no
    if not open_orders:
        ctx.reply("claim_none_open")
    else:
        ctx.reply("claim_which", numbers=[o.no for o in open_orders])
    return None


async def claim(ctx: Context, cmd: Claim) -> None:
    assert ctx.community is not None
    worker = await ctx.worker()
    assert worker is not None
    no = await _which(ctx, cmd.no)
    if no is None:
        return
    if (order := await ctx.tx.get_order(ctx.community.name, no)) is None:
        ctx.reply("refuse", reason="no_such_order", no=no)
        return
    if order.status in (Status.POSTED, Status.PENDING_REVIEW):
        ctx.reply("refuse", reason="not_dispatched", no=order.no)
        return
    if order.status in (Status.DONE, Status.CANCELLED, Status.DISMISSED):
        ctx.reply("refuse", reason=f"already_{order.status}", no=order.no)
        return
    if order.status == Status.TAKEN:
        await _late(ctx, order)
        return
    # the limit of active orders is checked by the claim's own conditional update
    reason = await worker_refusal(ctx, worker, order, count_active=False)
    if reason is not None:
        ctx.reply("refuse", reason=reason, no=order.no, limit=ctx.config.dispatch.max_active_per_worker,
                  category=order.category)
        return
    limit = ctx.config.dispatch.max_active_per_worker
    claimed = await ctx.tx.claim_order(order.id, worker.id, ctx.ts, max_active=limit)
    if claimed is None:
        fresh = await ctx.tx.get_order_by_id(order.id)
        assert fresh is not None
        if fresh.status == Status.DISPATCHED:  # still open: the worker has reached the limit
            ctx.reply("refuse", reason="too_many", no=order.no, limit=limit, category=order.category)
        else:
            await _late(ctx, fresh)
        return
    claimed.taker = worker
    await ctx.audit(claimed, "taken", f"{worker.name} {claimed.claim_seconds:.1f}s")
    await announce_taken(ctx, claimed, worker, "claim")


async def _late(ctx: Context, order: Order) -> None:
    """One notice per order while it waits in the outbox, however many late claims arrive; at
    most ``[dispatch] late_mentions`` @ in it (the rest are counted) and ``late_notices`` of them."""
    if order.taker is not None and order.taker.wechat == ctx.msg.sender_id:
        ctx.reply("claim_own", no=order.no)
        return
    assert ctx.room is not None
    ctx.to_room(ctx.room.key, "claim_late", mentions=(ctx.msg.sender_id,),
                coalesce_key=f"late:{order.community}:{order.no}", no=order.no,
                notice=Notice(ctx.config.dispatch.late_mentions, ctx.config.dispatch.late_notices, "claim_late_more"),
                taker=order.taker.name if order.taker else "")


async def _not_a_worker(ctx: Context) -> str:
    """Why the sender may not claim: the reason is about them, not the order."""
    worker = await ctx.worker()
    if worker is not None:
        return worker.status
    assert ctx.community is not None
    named = await ctx.tx.find_worker(ctx.community.name, name=ctx.sender)
    # the display name only chooses the hint (how to bind); it grants nothing
    return "unbound_worker" if named is not None and not named.bound else "not_registered"


ROUTES = [
    route(Claim, claim, where=MARKET, who=ACTIVE_WORKER, denied=_not_a_worker,
          outside=lambda cmd: "claim_in_market" if cmd.no is not None else None),
]
