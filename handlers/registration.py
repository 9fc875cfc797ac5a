"""Workers: self-registration (pending), staff approval (承诺书 date recorded) and suspension."""

from __future__ import annotations

from handlers.base import STAFF, Context, route
from handlers.commands import Approve, Register, Suspend
from handlers.common import MAX_NAME, clip, find_worker_named


async def register(ctx: Context, cmd: Register) -> None:
    if ctx.community is None:  # a direct message from someone of no known community
        ctx.reply("refuse", reason="register_where")
        return
    if len(cmd.name) > MAX_NAME or len(cmd.team or "") > MAX_NAME:
        ctx.reply("usage", command="登记", usage="register", detail=None)
        return
    unknown = [s for s in cmd.skills if s not in {c.name for c in ctx.config.categories}]
    if unknown:
        ctx.reply("refuse", reason="unknown_skill", skills=[clip(s, MAX_NAME) for s in unknown[:3]],
                  categories=[c.name for c in ctx.config.categories])
        return
    existing = await ctx.tx.find_worker(ctx.community.name, wechat=ctx.msg.sender_id)
    holder = await ctx.tx.find_worker(ctx.community.name, name=cmd.name)
    if holder is not None and holder.wechat != ctx.msg.sender_id:
        # The name is someone else's record: updating it would hand their (pending) registration
        # to the sender's account, and renaming the sender's own record to it would clash.
        ctx.reply("refuse", reason="register_name_taken", name=cmd.name)
        return
    if existing is not None and existing.status != "pending":
        ctx.reply("refuse", reason=f"register_{existing.status}", name=existing.name)
        return
    values = {"name": cmd.name, "wechat": ctx.msg.sender_id, "phone": cmd.phone, "skills": cmd.skills,
              "team": cmd.team, "bound_at": ctx.ts}  # the contact that sent 登记 is the worker's
    if existing is None:
        await ctx.tx.add_worker(dict(values, community=ctx.community.name, status="pending",
                                     pledge_date=None, registered_at=ctx.ts))
    else:
        await ctx.tx.update_worker(existing.id, values)
    await ctx.audit(None, "worker_registered", cmd.name)
    ctx.reply("register_ok", name=cmd.name, skills=list(cmd.skills), team=cmd.team)


async def _set_status(ctx: Context, name: str, status: str, worker_id: int | None = None) -> None:
    if len(name) > MAX_NAME:
        word, usage = ("通过", "approve") if status == "active" else ("停用", "suspend")
        ctx.reply("usage", command=word, usage=usage, detail=None)
        return
    worker = await find_worker_named(ctx, name, worker_id)
    if worker is None:
        ctx.reply("refuse", reason="no_such_worker", name=name)
        return
    if worker.status == status:
        ctx.reply("worker_status", name=worker.name, status=status, unchanged=True)
        return
    values: dict = {"status": status}
    if status == "active" and not worker.pledge_date:
        values["pledge_date"] = ctx.now.date().isoformat()
    await ctx.tx.update_worker(worker.id, values)
    await ctx.audit(None, f"worker_{status}", worker.name)
    ctx.reply("worker_status", name=worker.name, status=status, unchanged=False)
    if worker.bound:  # direct messages only to a proven contact id
        ctx.to_contact(worker.wechat, "worker_status_dm", name=worker.name, status=status)


async def approve(ctx: Context, cmd: Approve) -> None:
    await _set_status(ctx, cmd.name, "active", cmd.worker_id)


async def suspend(ctx: Context, cmd: Suspend) -> None:
    await _set_status(ctx, cmd.name, "suspended", cmd.worker_id)


ROUTES = [
    route(Register, register),
    route(Approve, approve, who=STAFF),
    route(Suspend, suspend, who=STAFF),
]
