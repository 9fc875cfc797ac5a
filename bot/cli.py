"""The ``linggong`` command line (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path

from bot import backup
from bot.app import BotStopped
from bot.config import Config, ConfigError, load_config
from bot.logs import setup_logging
from bot.replay import ReplayError, replay_file
from bot.reportcli import UsageError, export_command, report_command


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="linggong", description="零工派单助手 — community odd-job market bot")
    p.add_argument("--config", help="path to config.toml (default: ./config.toml)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("replay", help="feed a recorded chat (JSON lines) through the bot")
    r.add_argument("chat", type=Path)
    r.add_argument("--db", help="database file (default: a fresh temporary one)")
    r.add_argument("--out", type=Path, help="write outgoing messages here (default: stdout)")

    o = sub.add_parser("orders", help="list orders")
    o.add_argument("--db", help="database file (default: bot.database from config)")
    o.add_argument("--json", action="store_true", help="one JSON object per line")
    o.add_argument("--status", choices=["posted", "dispatched", "taken", "done", "cancelled"])
    o.add_argument("--community")

    rn = sub.add_parser("run", help="run the bot on WeChat through wechaty (the local simulated WeChat "
                                    "unless a gateway endpoint is set); Ctrl-C stops it")
    rn.add_argument("--db", help="database file (default: bot.database from config)")

    g = sub.add_parser("gateway", help="run the local simulated-WeChat gateway alone")
    g.add_argument("--port", type=int, help="port on 127.0.0.1 (default: [wechat].gateway_port)")

    c = sub.add_parser("console", help="chat with the bot in this terminal, through wechaty and the local gateway")
    c.add_argument("--db", help="database file (default: bot.database from config)")

    d = sub.add_parser("demo", help="replay a scripted morning of the demo community and print it")
    d.add_argument("--db", help="database file (default: a fresh temporary one)")

    w = sub.add_parser("workers", help="import or export the worker roster as CSV")
    w.add_argument("action", choices=["import", "export"])
    w.add_argument("file", type=Path)
    w.add_argument("--db", help="database file (default: bot.database from config)")
    w.add_argument("--community", help="community name (default: the first in config)")

    rp = sub.add_parser("report", help="print a tally or ranking as the bot would post it")
    rp.add_argument("kind", choices=["daily", "ranking"])
    rp.add_argument("--period", choices=["week", "month", "year"], default="week")
    rp.add_argument("--date", help="a day in the period, e.g. 2026-11-23 (default: today / the last period)")
    rp.add_argument("--community", help="community name (default: the first in config)")
    rp.add_argument("--db", help="database file (default: bot.database from config)")

    ex = sub.add_parser("export", help="write the order table (xlsx or csv)")
    ex.add_argument("--from", dest="start", required=True, help="first day, e.g. 2026-11-01")
    ex.add_argument("--to", dest="end", required=True, help="last day, e.g. 2026-11-30")
    ex.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    ex.add_argument("--out", type=Path, help="output file (default: orders-FROM-TO.xlsx)")
    ex.add_argument("--community", help="only this community")
    ex.add_argument("--db", help="database file (default: bot.database from config)")
    _add_migrate_parser(sub)
    backup.add_parsers(sub)
    return p



def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(logging.INFO if args.command in ("run", "gateway") else logging.WARNING)
    try:
        config = load_config(args.config)
        return asyncio.run(_run(args, config))
    except (ConfigError, ReplayError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BotStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "replay":
        return await _replay(args, config)
    if args.command == "orders":
        from bot.listing import print_orders
        return await print_orders(config, args.db or config.bot.database, json_lines=args.json,
                                  status=args.status, community=args.community)
    if args.command == "run":
        from bot.serve import run_bot
        return await run_bot(config, args.db or config.bot.database)
    if args.command == "gateway":
        from bot.serve import run_gateway
        return await run_gateway(config, args.port)
    if args.command == "console":
        from bot.console import run_console
        return await run_console(config, args.db or config.bot.database)
    if args.command == "demo":
        from bot.demo import run_demo
        return await run_demo(config, args.db)
    if args.command == "workers":
        from bot.listing import workers_command
        return await workers_command(config, args.db or config.bot.database, args.action, args.file,
                                     args.community)
    if args.command == "report":
        return await report_command(config, args.db or config.bot.database, args.kind, args.period, args.date,
                                    args.community)
    if args.command in ("backup", "restore"):
        from datetime import datetime
        return backup.command(args, args.db or config.bot.database, datetime.now(config.tz))
    if args.command == "export":
        return await export_command(config, args.db or config.bot.database, args.start, args.end, args.format,
                                    args.out, args.community)
    if args.command == "migrate":
        return await _migrate(args)
    raise AssertionError(args.command)


async def _replay(args: argparse.Namespace, config: Config) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database = args.db or str(Path(tmp) / "replay.db")
        _, out = await replay_file(config, args.chat, database)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in out)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _add_migrate_parser(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("migrate", help="copy a SQLite file's data into a shared (PostgreSQL) database; "
                                       "without --from, bring the database's schema up to date")
    m.add_argument("--from", dest="source", help="the SQLite file: sqlite:///data/linggong.db or a path")
    m.add_argument("--to", dest="target", required=True, help="the target, e.g. postgresql://linggong@db:5432/linggong")


async def _migrate(args: argparse.Namespace) -> int:
    """Copy idempotently (a progress bar on stderr), then print the per-table count check;
    without ``--from`` only apply pending schema migrations (for upgrades)."""
    from storage import display_database
    from storage.migrate import MigrationError, migrate, upgrade

    try:
        if args.source is None:
            version, applied = await upgrade(args.target)
            done = f"applied now: {', '.join(f'{n:03d}' for n in applied)}" if applied else "already up to date"
            print(f"{display_database(args.target)}: schema version {version:03d} ({done})")
            return 0
        results = await migrate(args.source, args.target, progress=sys.stderr)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.table:<10} source {r.source:>8}  copied now {r.inserted:>8}  in target {r.target:>8}  ok")
    return 0
