"""Claims (零工接单): the first valid ``接12`` in the market group takes the order."""

from __future__ import annotations

from handlers.base import Context
from handlers.commands import Claim
from handlers.common import announce_taken, load_order, worker_refusal


async def _which(ctx: Context, no: int | None) -> int | None:
    """Resolve a bare claim to the only open order, or ask which one."""
    if no is not None:
        return no
    assert ctx.community is not None
    open_orders = await ctx.tx.find_orders(ctx.community.name, statuses=("dispatched",))
    if len(open_orders) == 1:
        return open_orders[0].no
    if not open_orders:
        ctx.reply("claim_none_open")
    else:
        ctx.reply("claim_which", numbers=[o.no for o in open_orders])
    return None


async def claim(ctx: Context, cmd: Claim) -> None:
    if not ctx.in_market:
        if cmd.no is not None:
            ctx.reply("refuse", reason="claim_in_market")
        return
    worker = await ctx.worker()
    if worker is None or worker.status != "active":
        # Refuse before looking at orders: the reason is about the sender, not the order.
        reason = "not_registered" if worker is None else worker.status
        ctx.reply("refuse", reason=reason)
        return
    no = await _which(ctx, cmd.no)
    if no is None or (order := await load_order(ctx, no)) is None:
        return
    if order.status == "posted":
        ctx.reply("refuse", reason="not_dispatched", no=order.no)
        return
    if order.status in ("done", "cancelled"):
        ctx.reply("refuse", reason=f"already_{order.status}", no=order.no)
        return
    if order.status == "taken":
        await _late(ctx, order)
        return
    reason = await worker_refusal(ctx, worker, order)
    if reason is not None:
        ctx.reply("refuse", reason=reason, no=order.no, limit=ctx.config.dispatch.max_active_per_worker,
                  category=order.category)
        return
    limit = ctx.config.dispatch.max_active_per_worker
    if not await ctx.tx.claim_order(order.id, worker.id, ctx.ts, max_active=limit):
        fresh = await ctx.tx.get_order_by_id(order.id)
        assert fresh is not None
        if fresh.status == "dispatched":  # still open: the worker reached the limit meanwhile
            ctx.reply("refuse", reason="too_many", no=order.no, limit=limit, category=order.category)
        else:
            await _late(ctx, fresh)
        return
    order = await ctx.tx.get_order_by_id(order.id)
    assert order is not None
    await ctx.audit(order, "taken", f"{worker.name} {order.claim_seconds:.1f}s")
    await announce_taken(ctx, order, worker, "claim")


async def _late(ctx: Context, order) -> None:
    """One notice per order while it waits in the outbox, however many late claims arrive."""
    if order.taker is not None and order.taker.wechat == ctx.msg.sender_id:
        ctx.reply("claim_own", no=order.no)
        return
    assert ctx.room is not None
    ctx.to_room(ctx.room.key, "claim_late", mentions=(ctx.msg.sender_id,),
                coalesce_key=f"late:{order.community}:{order.no}", no=order.no,
                taker=order.taker.name if order.taker else "")


ROUTES = {Claim: claim}
