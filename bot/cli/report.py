"""``linggong report`` and ``linggong export``: the scheduled reports and the order table on demand."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

from bot.app import App
from bot.cli.common import UsageError, add_db, database, parse_day, pick_community, say
from bot.clock import FakeClock, SystemClock
from bot.config import Config
from bot.schedule.jobs import ranking_reply, tally_replies
from bot.sheets.export import export_orders
from handlers.reports import period_bounds
from storage import open_repository


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rp = sub.add_parser("report", parents=[common], help="打印接单统计或排行榜，和机器人发到群里的一样",
                        description="打印机器人发到零工市场群的统计：\n"
                                    "  daily     一天的接单统计（默认今天）\n"
                                    "  ranking   一周、一个月或一年的接单排行榜（默认上一个完整的周期）")
    rp.add_argument("kind", choices=["daily", "ranking"], help="daily：每日统计；ranking：排行榜")
    rp.add_argument("--period", choices=["week", "month", "year"], default="week",
                    help="排行榜的周期：week 周、month 月、year 年（默认 week）")
    rp.add_argument("--date", metavar="日期",
                    help="周期里的某一天，例如 2026-11-23（默认：今天 / 上一个周期）")
    rp.add_argument("--community", metavar="社区", help="社区名称（默认：配置里的第一个社区）")
    add_db(rp)
    rp.set_defaults(func=lambda args, config: report_command(
        config, database(args, config), args.kind, args.period, args.date, args.community))
    ex = sub.add_parser("export", parents=[common], help="导出订单表（xlsx 或 csv）",
                        description="把一段日期里的订单导出成表格（xlsx 或 csv），含订单表和零工汇总。")
    ex.add_argument("--from", dest="start", required=True, metavar="日期", help="第一天，例如 2026-11-01")
    ex.add_argument("--to", dest="end", required=True, metavar="日期", help="最后一天，例如 2026-11-30")
    ex.add_argument("--format", choices=["xlsx", "csv"], default="xlsx", help="文件格式（默认 xlsx）")
    ex.add_argument("--out", type=Path, metavar="文件", help="导出的文件（默认：orders-开始日期-结束日期.xlsx）")
    ex.add_argument("--community", metavar="社区", help="只导出这个社区")
    add_db(ex)
    ex.set_defaults(func=lambda args, config: export_command(
        config, database(args, config), args.start, args.end, args.format, args.out, args.community))


async def report_command(config: Config, database: str, kind: str, period: str | None, day: str | None,
                         community_name: str | None) -> int:
    """Print the text the bot posts to the market group for that day or period."""
    community = pick_community(config, community_name)
    clock = SystemClock(config.tz)
    real_now = clock.now()
    chosen = parse_day(day, "--date", clock)
    moment = datetime.combine(chosen, time(12), config.tz)
    if kind == "ranking" and day is None:  # the last whole period, as the scheduled post covers
        moment = period_bounds(real_now, period or "week")[0] - timedelta(seconds=1)
    start, end = period_bounds(moment, "day" if kind == "daily" else period or "week")
    now = min(real_now, end - timedelta(seconds=1))
    repo = await open_repository(database)
    try:
        app = App(config, repo, FakeClock(now, config.tz))
        async with repo.reading() as tx:
            if kind == "daily":
                replies = [r for r in await tally_replies(app, tx, community, start, end, now)
                           if r.room == community.market_group]
            else:
                replies = [await ranking_reply(app, tx, community, period or "week", start, end)]
        for reply in replies:
            print(app.renderer.render(reply.template, reply.data))
    finally:
        await repo.close()
    return 0


async def export_command(config: Config, database: str, start_s: str, end_s: str, fmt: str, out: Path | None,
                         community_name: str | None) -> int:
    clock = SystemClock(config.tz)
    start_day, end_day = parse_day(start_s, "--from", clock), parse_day(end_s, "--to", clock)
    if end_day < start_day:
        raise UsageError(say("dates_reversed", start=start_s, end=end_s))
    community = pick_community(config, community_name) if community_name else None
    start = datetime.combine(start_day, time(0), config.tz)
    end = datetime.combine(end_day + timedelta(days=1), time(0), config.tz)
    path = out or Path(f"orders-{start_day.isoformat()}-{end_day.isoformat()}.{fmt}")
    repo = await open_repository(database)
    try:
        count = await export_orders(repo, config, community.name if community else None, start, end, path, fmt)
    finally:
        await repo.close()
    print(say("exported", count=count, path=path), file=sys.stderr)
    return 0
