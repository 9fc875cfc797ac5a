"""Voice notes and pictures: the bot cannot read them, so the grid's staff are told.

Elderly residents often send a voice note instead of typing.  In a grid group the resident is
answered once (briefly, at most once per ``QUIET`` seconds per sender, however many notes they
send) and every staff member of the grid gets a direct message to listen to it there and post the
need with 代发单.  In a direct chat the bot asks for text (it cannot pass the note on).  Staff's
own media and the market group's are left alone.
"""

from __future__ import annotations

from handlers.base import Context, route
from handlers.commands import Media

QUIET = 600.0  # seconds: one acknowledgement per sender per this long


async def media(ctx: Context, cmd: Media) -> None:
    if ctx.in_market or ctx.is_staff():
        return
    if ctx.room is None:
        ctx.reply("media_direct", kind=cmd.kind)
        return
    if not ctx.in_grid or ctx.community is None or ctx.room.grid is None:
        return
    key = f"media_ack:{ctx.community.name}:{ctx.sender_id}"
    last = await ctx.tx.get_meta(key)
    if last is not None and ctx.ts - float(last) < QUIET:
        return
    await ctx.tx.set_meta(key, repr(ctx.ts))
    staff = ctx.directory.staff_ids(ctx.community, ctx.room.grid.name)
    ctx.reply("media_ack", kind=cmd.kind, has_staff=bool(staff))
    for person in staff:
        ctx.to_contact(person, "media_staff", kind=cmd.kind, name=ctx.sender[:40], group=ctx.room.key)
    await ctx.audit(None, "media", f"{cmd.kind} in {ctx.room.key}")


ROUTES = [route(Media, media)]
