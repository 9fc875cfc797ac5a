"""``linggong workers import|export``: the worker roster as a CSV file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import UsageError, add_db, database
from bot.clock import SystemClock
from bot.config import Config
from bot.identity import CODE_HOURS
from bot.sheets.roster import RosterError, export_roster, import_roster, parse_roster
from storage import open_repository


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    w = sub.add_parser("workers", parents=[common],
                       help="import or export the worker roster as CSV; codes: binding codes for unbound workers")
    w.add_argument("action", choices=["import", "export", "codes"])
    w.add_argument("file", type=Path, nargs="?")
    add_db(w)
    w.add_argument("--community", help="community name (default: the first in config)")
    w.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    if args.action == "codes":  # the 承诺书 slips' codes: linggong bind for workers only
        from bot.cli.bind import bind_command

        args.hours, args.reset, args.people = CODE_HOURS, None, False
        return await bind_command(args, config, workers=True)
    if args.file is None:
        raise UsageError(f"linggong workers {args.action} needs a file: linggong workers {args.action} 名册.csv")
    return await workers_command(config, database(args, config), args.action, args.file, args.community)


async def workers_command(config: Config, database: str, action: str, path: Path, community: str | None) -> int:
    name = community or config.communities[0].name
    if config.community(name) is None:
        print(f"error: --community {name!r} is not in {config.source}", file=sys.stderr)
        return 2
    repo = await open_repository(database)
    try:
        if action == "export":
            path.write_text(await export_roster(repo, name), encoding="utf-8-sig")
            print(f"exported the roster of {name} to {path}")
            return 0
        if not path.is_file():
            print(f"error: {path}: file not found", file=sys.stderr)
            return 2
        try:
            rows = parse_roster(path.read_text(encoding="utf-8-sig"), {c.name for c in config.categories}, str(path))
        except RosterError as exc:
            print(f"error: nothing imported; fix these rows:\n{exc}", file=sys.stderr)
            return 2
        counts = await import_roster(repo, name, rows, SystemClock(config.tz).now().timestamp())
        print(f"imported {len(rows)} workers into {name}: {counts['added']} added, {counts['updated']} updated")
        return 0
    finally:
        await repo.close()
