"""``linggong bind``: one-time codes for the people and workers who have not bound their WeChat.

Prints everyone config names (bot admins, community admins, grid staff) and every rostered
worker: the bound with their contact id, the unbound with a new six-digit code, valid for
``--hours``.  Each unbound person sends 「绑定 123456」 to the bot by direct message.
``--reset 姓名`` forgets a binding (a changed or lost account): the old contact loses every right
at once and the person gets a new code the next time this runs.
"""

from __future__ import annotations

import argparse

from bot.app import App
from bot.cli.common import UsageError, add_db, database, pick_community, say
from bot.clock import SystemClock
from bot.config import Config
from bot.identity import CODE_HOURS, Identities, binding_sheet
from bot.render import Renderer
from storage import open_repository


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bind", parents=[common], help="给网格员、管理员和零工的绑定码",
                       description="列出配置里的人（机器人管理员、社区管理员、网格员）和名册里的零工：已绑定的"
                                   "写出微信号，没绑定的给一个新的六位绑定码。\n"
                                   "没绑定的人私聊机器人发「绑定 123456」。\n"
                                   "--reset 姓名：解除这个人的绑定（换了或丢了微信号），下次运行时给他新的绑定码。")
    p.add_argument("--community", metavar="社区", help="只列这个社区（和机器人的管理员）")
    p.add_argument("--hours", type=float, default=CODE_HOURS, metavar="小时",
                   help=f"绑定码的有效时间（默认 {CODE_HOURS:g} 小时）")
    p.add_argument("--reset", metavar="姓名", help="解除这个人的绑定（换了或丢了微信号）")
    p.add_argument("--people", action="store_true", help="只列网格员和管理员")
    add_db(p)
    p.set_defaults(func=bind_command)


def show(config: Config, **data) -> None:
    print(Renderer(config.tz).render("bind_sheet", {"reset": None, "entries": [], **data}))


async def bind_command(args: argparse.Namespace, config: Config, *, workers: bool | None = None) -> int:
    if args.community is not None:
        pick_community(config, args.community)  # an unknown name is a UsageError naming the communities
    if args.hours <= 0:
        raise UsageError(say("hours_positive"))
    now = SystemClock(config.tz).now().timestamp()
    identities = Identities(config)
    repo = await open_repository(database(args, config))
    try:
        await App(config, repo, SystemClock(config.tz)).setup()  # the configured roster, as linggong run seeds it
        async with repo.transaction() as tx:
            if args.reset:
                return await _reset(tx, config, args.reset, args.community, now)
            entries = await binding_sheet(tx, identities, now, community=args.community, hours=args.hours,
                                          people=workers is not True, workers=not args.people if workers is None
                                          else workers)
    finally:
        await repo.close()
    show(config, entries=entries, waiting=sum(1 for e in entries if e.code), hours=f"{args.hours:g}")
    return 0


async def _reset(tx, config: Config, name: str, community: str | None, now: float) -> int:
    scopes = [community] if community else [c.name for c in config.communities]
    done = []
    for scope in [*scopes, ""]:
        if await tx.remove_binding(scope, name):
            done.append(scope or "")
            await tx.add_event(None, scope, now, "cli", "unbound", name)
    for scope in scopes:
        worker = await tx.find_worker(scope, name=name)
        if worker is not None and worker.bound:
            await tx.unbind_worker(worker.id)
            done.append(scope)
            await tx.add_event(None, scope, now, "cli", "unbound", f"worker {name}")
    if not done:
        raise UsageError(say("reset_unknown", name=name, source=config.source))
    show(config, reset=name, places=[p or config.bot.name for p in dict.fromkeys(done)])
    return 0
