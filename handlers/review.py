"""Review of uncertain needs (待确认): staff answer 确认N [类别] or 不是N.

The classifier sends a message it is not sure of to the grid's staff as an order in status
``pending_review`` (``handlers.intake``).  ``确认N`` makes it a normal order (posted, or
dispatched at once with ``[dispatch].auto``) and acknowledges the resident in their group;
``确认N 搬家配送`` also corrects the category; ``不是N`` closes it as ``dismissed`` without a
word to the group.  派单N and 指派N on a pending order confirm it too (``handlers.dispatch``).

Every decision is kept as a labelled example (``label``): the need text with phones and door
numbers masked, for ``linggong intake export``.
"""

from __future__ import annotations

from handlers.base import STAFF, Context, route
from handlers.commands import Confirm, Dismiss
from handlers.common import transition
from handlers.intake import announce
from handlers.parse import mask_text
from storage.models import Order
from storage.status import Status


async def label(ctx: Context, order: Order, *, need: bool, category: str | None, decision: str) -> None:
    """Keep a staff decision on an order's message as a labelled example (contact data masked)."""
    await ctx.tx.add_intake_label({
        "community": order.community, "order_no": order.no, "text": mask_text(order.raw_text),
        "need": need, "category": category if need else None, "decision": decision,
        "labelled_by": ctx.sender_id, "labelled_at": ctx.ts,
    })


async def confirmed(ctx: Context, order: Order, decision: str) -> None:
    """A pending order a staff member made a need of (确认, 派单, 指派): label it, tell the resident."""
    await ctx.audit(order, "confirmed", order.category or "")
    await label(ctx, order, need=True, category=order.category, decision=decision)


def not_pending(ctx: Context, order: Order) -> None:
    reason = "already_dismissed" if order.status == Status.DISMISSED else "not_pending"
    ctx.reply("refuse", reason=reason, no=order.no)


async def confirm(ctx: Context, cmd: Confirm, order: Order) -> None:
    if order.status != Status.PENDING_REVIEW:
        not_pending(ctx, order)
        return
    names = [c.name for c in ctx.config.categories]
    if cmd.category is not None and cmd.category not in names:
        ctx.reply("refuse", reason="unknown_category", category=cmd.category, categories=names)
        return
    auto = ctx.config.dispatch.auto
    values = {"status": Status.DISPATCHED if auto else Status.POSTED, "category": cmd.category or order.category}
    if auto:
        values |= {"dispatched_at": ctx.ts, "dispatcher": ctx.sender}
    if not await transition(ctx, order, values, (Status.PENDING_REVIEW,)):
        return
    fresh = await ctx.tx.get_order_by_id(order.id)
    assert fresh is not None
    corrected = cmd.category is not None and cmd.category != order.category
    await confirmed(ctx, fresh, "corrected" if corrected else "confirmed")
    room = ctx.order_room(fresh)
    await announce(ctx, fresh, room, mention=fresh.resident_id, proxy=False, auto=auto)
    ctx.reply("review_done", decision="confirmed", no=fresh.no, category=fresh.category, auto=auto)


async def dismiss(ctx: Context, cmd: Dismiss, order: Order) -> None:
    if order.status != Status.PENDING_REVIEW:
        not_pending(ctx, order)
        return
    if not await transition(ctx, order, {"status": Status.DISMISSED}, (Status.PENDING_REVIEW,)):
        return
    await ctx.audit(order, "dismissed", "")
    await label(ctx, order, need=False, category=None, decision="dismissed")
    ctx.reply("review_done", decision="dismissed", no=order.no)


ROUTES = [
    route(Confirm, confirm, who=STAFF, order=True),
    route(Dismiss, dismiss, who=STAFF, order=True),
]
