"""Intake (群众发单): a resident's need in a grid group becomes an order, or a review (待确认).

A need the classifier is sure of becomes an order and is acknowledged in the group; an
uncertain one becomes an order in status ``pending_review``: nothing is said in the group and
the grid's staff get one direct message asking them to answer 确认N or 不是N
(``handlers.review``).  A message that asks for two services makes two orders.
"""

from __future__ import annotations

from handlers.base import GRID, STAFF, Context, route
from handlers.commands import Need, PostNeed, ProxyPost
from handlers.common import addressee, card, post_card
from handlers.textutil import restore_punct
from storage.models import Order
from storage.status import Status


async def create_order(ctx: Context, need: Need, *, source: str, grid: str, room: str | None,
                       resident_id: str, resident_name: str, posted_by: str | None = None,
                       review: bool = False) -> Order:
    """Create an order; a sure one is announced (``announce``), an uncertain one goes to staff."""
    assert ctx.community is not None
    community = ctx.community.name
    auto = ctx.config.dispatch.auto and not review
    status = Status.PENDING_REVIEW if review else Status.DISPATCHED if auto else Status.POSTED
    order = await ctx.tx.insert_numbered_order({
        "community": community, "grid": grid,
        "origin_room": room, "source": source, "status": status,
        "category": need.category, "raw_text": ctx.msg.text, "need_text": restore_punct(need.text), "phones": need.phones,
        "address": need.address, "coarse_address": need.coarse_address, "time_wish": need.time_wish,
        "budget": need.budget, "resident_id": resident_id, "resident_name": resident_name,
        "posted_by": posted_by, "created_at": ctx.ts, "dispatched_at": ctx.ts if auto else None,
        "dispatcher": "auto" if auto else None,
    })
    ctx.created.append(order)
    if review:
        await ctx.audit(order, "review", f"source={source}")
        ask_staff(ctx, order)
        return order
    await ctx.audit(order, "posted", f"source={source}")
    await announce(ctx, order, room, mention=resident_id if posted_by is None else ctx.msg.sender_id,
                   proxy=posted_by is not None, auto=auto)
    return order


def acknowledge(ctx: Context, order: Order, room: str | None, *, mention: str, proxy: bool, auto: bool) -> None:
    """Tell the resident (in the group the order came from) that their need is an order."""
    ack = dict(no=order.no, category=order.category, auto=auto, proxy=proxy,
               resident=order.resident_name, time_wish=order.time_wish, missing=missing_contact(order),
               staff=_grid_staff(ctx, order))
    if room is not None:
        mentions = (mention,) if order.source != "qr" else ()  # a QR resident has no WeChat contact to @
        ctx.to_room(room, "order_ack", mentions=mentions, addressee=addressee(order), **ack)
    else:
        ctx.reply("order_ack", **ack)


def missing_contact(order: Order) -> list[str]:
    """What the taker will need and the need did not say: "phone", "address"."""
    return [what for what, given in (("phone", order.phones), ("address", order.address)) if not given]


def _grid_staff(ctx: Context, order: Order) -> list[str]:
    """The names of the order's grid staff (whom a resident may tell a phone number privately)."""
    if ctx.community is None:
        return []
    grid = next((g for g in ctx.community.grids if g.name == order.grid), None)
    return [p.name for p in grid.staff] if grid else []


async def announce(ctx: Context, order: Order, room: str | None, *, mention: str, proxy: bool, auto: bool) -> None:
    """Acknowledge an order where it came from and, when dispatched at once, post its card."""
    acknowledge(ctx, order, room, mention=mention, proxy=proxy, auto=auto)
    if auto:
        await ctx.audit(order, "dispatched", "auto")
        await post_card(ctx, order, "new")


def ask_staff(ctx: Context, order: Order) -> None:
    """One direct message to each of the grid's staff about an uncertain need (no contact data)."""
    assert ctx.community is not None
    data = dict(order=card(ctx, order), categories=[c.name for c in ctx.config.categories])
    for staff in ctx.directory.staff_ids(ctx.community, order.grid):
        ctx.to_contact(staff, "review_ask", **data)


async def post_need(ctx: Context, cmd: PostNeed) -> None:
    assert ctx.room is not None and ctx.room.grid is not None
    for need in filter(None, (cmd.need, cmd.second)):
        await create_order(ctx, need, source=ctx.msg.source, grid=ctx.room.grid.name, room=ctx.room.key,
                           resident_id=ctx.msg.sender_id, resident_name=ctx.sender, review=cmd.review)


async def proxy_post(ctx: Context, cmd: ProxyPost) -> None:
    """``代发单``: staff post for a resident who phoned in; the order belongs to the staff's grid."""
    assert ctx.community is not None
    if ctx.in_grid and ctx.room is not None and ctx.room.grid is not None:
        grid, room = ctx.room.grid, ctx.room.key
    else:
        grids = ctx.directory.staff_grids(ctx.community, ctx.sender_id) or list(ctx.community.grids)
        grid, room = grids[0], grids[0].groups[0]
    await create_order(ctx, cmd.need, source="proxy", grid=grid.name, room=room,
                       resident_id=ctx.msg.sender_id, resident_name="", posted_by=ctx.sender)


ROUTES = [
    # a need outside a grid group: an explicit 发单 is told where to post; anything else is chit-chat
    route(PostNeed, post_need, where=GRID, outside=lambda cmd: "post_in_grid" if cmd.explicit else None),
    route(ProxyPost, proxy_post, who=STAFF),
]
