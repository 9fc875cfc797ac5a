"""``linggong status``: is the bot's WeChat account logged in?  For people and for monitors.

Reads the state every running instance records (bot/account.py) and prints one line each; exits
0 when every instance is logged in and was heard from within ``STALE`` seconds, 1 otherwise (a
cron job, systemd timer or Zabbix check can alert on that), 2 when nothing was ever recorded.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import datetime

from bot.account import HEARTBEAT, read_statuses
from bot.cli.common import add_db, database
from bot.clock import SystemClock
from bot.config import Config
from bot.render import load_labels
from storage import open_repository

STALE = 3 * HEARTBEAT  # no word from a running bot for this long: it is not running


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("status", parents=[common],
                       help="机器人的微信是否在线（监控用：在线时退出码 0，否则 1）",
                       description="机器人的微信是否在线：每个在运行的机器人一行。\n"
                                   "退出码（给监控程序看）：都在线是 0，有不在线或没在运行的是 1，"
                                   "从来没有记录是 2。")
    p.add_argument("--json", action="store_true", help="给程序读的 JSON（键名固定为英文）")
    add_db(p)
    p.set_defaults(func=lambda args, config: status_command(config, database(args, config), args.json))


async def status_command(config: Config, database: str, as_json: bool) -> int:
    repo = await open_repository(database)
    try:
        statuses = await read_statuses(repo)
    finally:
        await repo.close()
    now = SystemClock(config.tz).now()
    labels = load_labels()
    words, say = labels["web"]["account"]["states"], labels["cli"]["status"]
    if as_json:
        print(json.dumps({key: {**asdict(s), "running": now.timestamp() - s.checked_at <= STALE}
                          for key, s in statuses.items()}, ensure_ascii=False, indent=2))
    if not statuses:
        if not as_json:
            print(say["none"])
        return 2
    healthy = True
    for key, s in sorted(statuses.items()):
        running = now.timestamp() - s.checked_at <= STALE
        since = datetime.fromtimestamp(s.since, config.tz).strftime("%m-%d %H:%M")
        if not running:
            seen = datetime.fromtimestamp(s.checked_at, config.tz).strftime("%m-%d %H:%M")
            line = say["not_running"].format(key=key, seen=seen, state=words[s.state])
        elif s.ok:
            line = say["logged_in"].format(key=key, state=words[s.state], name=s.name, since=since)
        else:
            detail = say["detail"].format(detail=s.detail) if s.detail else ""
            line = say["down"].format(key=key, state=words[s.state], since=since, detail=detail)
        healthy = healthy and running and s.ok
        if not as_json:
            print(line)
    return 0 if healthy else 1
