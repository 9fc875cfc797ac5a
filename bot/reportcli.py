"""``linggong report`` and ``linggong export``: the scheduled reports and the order table on demand."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from bot.app import App
from bot.clock import FakeClock
from bot.config import Community, Config
from bot.export import export_orders
from bot.jobs import ranking_reply, tally_replies
from bot.reports import period_bounds
from bot.transport import RecordingTransport
from storage import open_repository


class UsageError(Exception):
    """A command-line value is not of the right form; the message names the option."""


def parse_day(value: str | None, option: str, config: Config) -> date:
    if value is None:
        return datetime.now(config.tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date such as 2026-11-23") from None


def pick_community(config: Config, name: str | None) -> Community:
    if name is None:
        return config.communities[0]
    community = config.community(name)
    if community is None:
        names = ", ".join(c.name for c in config.communities)
        raise UsageError(f"--community {name!r} is not in {config.source} (communities: {names})")
    return community


async def report_command(config: Config, database: str, kind: str, period: str | None, day: str | None,
                         community_name: str | None) -> int:
    """Print the text the bot posts to the market group for that day or period."""
    community = pick_community(config, community_name)
    real_now = datetime.now(config.tz)
    chosen = parse_day(day, "--date", config)
    moment = datetime.combine(chosen, time(12), config.tz)
    if kind == "ranking" and day is None:  # the last whole period, as the scheduled post covers
        moment = period_bounds(real_now, period or "week")[0] - timedelta(seconds=1)
    start, end = period_bounds(moment, "day" if kind == "daily" else period or "week")
    now = min(real_now, end - timedelta(seconds=1))
    repo = await open_repository(database)
    try:
        app = App(config, repo, FakeClock(now, config.tz), RecordingTransport())
        async with repo.transaction() as tx:
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
    start_day, end_day = parse_day(start_s, "--from", config), parse_day(end_s, "--to", config)
    if end_day < start_day:
        raise UsageError(f"--to {end_s} is before --from {start_s}")
    community = pick_community(config, community_name) if community_name else None
    start = datetime.combine(start_day, time(0), config.tz)
    end = datetime.combine(end_day + timedelta(days=1), time(0), config.tz)
    path = out or Path(f"orders-{start_day.isoformat()}-{end_day.isoformat()}.{fmt}")
    repo = await open_repository(database)
    try:
        count = await export_orders(repo, config, community.name if community else None, start, end, path, fmt)
    finally:
        await repo.close()
    print(f"wrote {count} orders to {path}", file=sys.stderr)
    return 0
