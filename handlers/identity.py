"""Binding WeChat accounts to people (bot/identity.py): 绑定 123456 and, for admins, 解绑 名字.

A code is sent by direct message only: one posted in a group is used up and refused, since the
group has read it.  Five wrong codes from one contact within a day stop its tries until the next
day (six digits, 48 hours: guessing is the only attack, and this makes it hopeless).  Every
binding and reset is an audit event, and the admins are told of each binding.
"""

from __future__ import annotations

from bot.identity import code_hash
from handlers.base import STAFF, Context, route
from handlers.commands import Bind, Unbind

MAX_FAILED = 5  # wrong codes one contact may send in a day


async def bind(ctx: Context, cmd: Bind) -> None:
    if await ctx.tx.count_events("bind_failed", ctx.sender_id, ctx.ts - 86400) >= MAX_FAILED:
        ctx.reply("refuse", reason="too_many_codes")
        return
    code = await ctx.tx.take_bind_code(code_hash(cmd.code), ctx.ts)
    if ctx.room is not None:  # the group has seen it: never let it work
        ctx.reply("refuse", reason="bind_in_group")
        return
    if code is None:
        await ctx.tx.add_event(None, "", ctx.ts, ctx.sender_id, "bind_failed", "")
        ctx.reply("refuse", reason="bad_code")
        return
    identities = ctx.directory.identities
    if code["kind"] == "worker":
        worker = await ctx.tx.get_worker(code["worker_id"])
        if worker is None:
            ctx.reply("refuse", reason="bad_code")
            return
        await ctx.tx.bind_worker(worker.id, ctx.sender_id, ctx.ts)
        await ctx.tx.add_event(None, worker.community, ctx.ts, ctx.sender_id, "bound", f"worker {worker.name}")
        ctx.reply("bind_ok", name=worker.name, role="worker", community=worker.community)
        notify = ctx.directory.admin_ids(ctx.config.community(worker.community))
        who, scope = worker.name, worker.community
    else:
        scope, name = code["scope"], code["name"]
        if identities.find(scope, name) is None:  # no longer in config.toml
            ctx.reply("refuse", reason="bad_code")
            return
        await ctx.tx.set_binding(scope, name, ctx.sender_id, ctx.ts, "code")
        identities.load(await ctx.tx.bindings())
        await ctx.tx.add_event(None, scope, ctx.ts, ctx.sender_id, "bound", name)
        roles = [seat.role for seat in identities.seats() if seat.scope == scope and seat.person.name == name]
        ctx.reply("bind_ok", name=name, role=roles[0] if roles else "staff", community=scope)
        notify = ctx.directory.admin_ids(ctx.config.community(scope)) if scope else ctx.directory.admin_ids()
        who = name
    for admin in notify:
        if admin != ctx.sender_id:
            ctx.to_contact(admin, "bind_notice", name=who, community=scope)


def _is_admin(ctx: Context) -> bool:
    return ctx.directory.is_admin(ctx.sender_id) or (
        ctx.community is not None and ctx.directory.identities.is_community_admin(ctx.community, ctx.sender_id))


async def unbind(ctx: Context, cmd: Unbind) -> None:
    """An admin forgets a binding: the person (of the admin's community, or a bot admin) or the
    worker of that name.  Config-given ids are config's to change."""
    if not _is_admin(ctx):
        ctx.reply("refuse", reason="admin_only")
        return
    assert ctx.community is not None
    for scope in (ctx.community.name, ""):
        if await ctx.tx.remove_binding(scope, cmd.name):
            ctx.directory.identities.load(await ctx.tx.bindings())
            await ctx.tx.add_event(None, scope, ctx.ts, ctx.sender_id, "unbound", cmd.name)
            ctx.reply("unbind_ok", name=cmd.name)
            return
    worker = await ctx.tx.find_worker(ctx.community.name, name=cmd.name)
    if worker is not None and worker.bound:
        await ctx.tx.unbind_worker(worker.id)
        await ctx.tx.add_event(None, ctx.community.name, ctx.ts, ctx.sender_id, "unbound", f"worker {worker.name}")
        ctx.reply("unbind_ok", name=cmd.name)
        return
    ctx.reply("refuse", reason="not_bound", name=cmd.name)


ROUTES = [
    route(Bind, bind),
    route(Unbind, unbind, who=STAFF, community=True),
]
