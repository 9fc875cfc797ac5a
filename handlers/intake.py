"""Intake (群众发单): a resident's need in a grid group becomes an order."""

from __future__ import annotations

from handlers.base import GRID, STAFF, Context, route
from handlers.commands import Need, PostNeed, ProxyPost
from handlers.common import post_card
from handlers.textutil import restore_punct
from storage.status import Status


async def create_order(ctx: Context, need: Need, *, source: str, grid: str, room: str | None,
                       resident_id: str, resident_name: str, posted_by: str | None = None) -> None:
    """Create an order, acknowledge it in the grid group and, with dispatch.auto, dispatch it."""
    assert ctx.community is not None
    community = ctx.community.name
    auto = ctx.config.dispatch.auto
    order = await ctx.tx.insert_order({
        "community": community, "no": await ctx.tx.next_order_no(community), "grid": grid,
        "origin_room": room, "source": source, "status": Status.DISPATCHED if auto else Status.POSTED,
        "category": need.category, "raw_text": ctx.msg.text, "need_text": restore_punct(need.text), "phones": need.phones,
        "address": need.address, "coarse_address": need.coarse_address, "time_wish": need.time_wish,
        "budget": need.budget, "resident_id": resident_id, "resident_name": resident_name,
        "posted_by": posted_by, "created_at": ctx.ts, "dispatched_at": ctx.ts if auto else None,
        "dispatcher": "auto" if auto else None,
    })
    ctx.created.append(order)
    await ctx.audit(order, "posted", f"source={source}")
    ack = dict(no=order.no, category=order.category, auto=auto, proxy=posted_by is not None,
               resident=resident_name, time_wish=order.time_wish)
    if room is not None:
        mentions = (resident_id,) if posted_by is None else (ctx.msg.sender_id,)
        ctx.to_room(room, "order_ack", mentions=mentions, **ack)
    else:
        ctx.reply("order_ack", **ack)
    if auto:
        await ctx.audit(order, "dispatched", "auto")
        await post_card(ctx, order, "new")


async def post_need(ctx: Context, cmd: PostNeed) -> None:
    assert ctx.room is not None and ctx.room.grid is not None
    await create_order(ctx, cmd.need, source=ctx.msg.source, grid=ctx.room.grid.name, room=ctx.room.key,
                       resident_id=ctx.msg.sender_id, resident_name=ctx.sender)


async def proxy_post(ctx: Context, cmd: ProxyPost) -> None:
    """``代发单``: staff post for a resident who phoned in; the order belongs to the staff's grid."""
    assert ctx.community is not None
    if ctx.in_grid and ctx.room is not None and ctx.room.grid is not None:
        grid, room = ctx.room.grid, ctx.room.key
    else:
        grids = ctx.community.staff_grids(ctx.msg.sender_id, ctx.sender) or list(ctx.community.grids)
        grid, room = grids[0], grids[0].groups[0]
    await create_order(ctx, cmd.need, source="proxy", grid=grid.name, room=room,
                       resident_id=ctx.msg.sender_id, resident_name="", posted_by=ctx.sender)


ROUTES = [
    # a need outside a grid group: an explicit 发单 is told where to post; anything else is chit-chat
    route(PostNeed, post_need, where=GRID, outside=lambda cmd: "post_in_grid" if cmd.explicit else None),
    route(ProxyPost, proxy_post, who=STAFF),
]
