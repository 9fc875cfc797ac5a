"""``linggong workers import|export|template|codes``: the worker roster as a CSV or xlsx file.

Import reads the file with ``bot.sheets.roster.read_roster``, the reader the dashboard uses: CSV
(UTF-8 or GBK) or xlsx, told apart by content.  Export and template write xlsx or CSV (with a BOM,
so Excel opens it as UTF-8), by ``--format`` or the file name's suffix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import UsageError, add_db, database
from bot.clock import SystemClock
from bot.config import Config
from bot.identity import CODE_HOURS
from bot.sheets.roster import (
    MESSAGES,
    RosterError,
    export_roster,
    export_roster_xlsx,
    import_roster,
    read_roster,
    roster_template,
    template_filename,
)
from storage import open_repository

FORMATS = ("xlsx", "csv")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    w = sub.add_parser("workers", parents=[common],
                       help="import or export the worker roster (CSV or xlsx); template: a fill-in roster "
                            "template; codes: binding codes for unbound workers")
    w.add_argument("action", choices=["import", "export", "template", "codes"])
    w.add_argument("file", type=Path, nargs="?")
    w.add_argument("--out", type=Path, help="template: the file to write (default: 零工名册模板.xlsx)")
    w.add_argument("--format", choices=FORMATS,
                   help="export/template: xlsx or csv (default: from the file name, else csv for export, "
                        "xlsx for template)")
    add_db(w)
    w.add_argument("--community", help="community name (default: the first in config)")
    w.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    if args.action == "codes":  # the 承诺书 slips' codes: linggong bind for workers only
        from bot.cli.bind import bind_command

        args.hours, args.reset, args.people = CODE_HOURS, None, False
        return await bind_command(args, config, workers=True)
    if args.action == "template":
        return template_command(config, args.out or args.file, args.format)
    if args.file is None:
        raise UsageError(f"linggong workers {args.action} needs a file: linggong workers {args.action} 名册.xlsx")
    return await workers_command(config, database(args, config), args.action, args.file, args.community,
                                 args.format)


def _format(path: Path | None, chosen: str | None, default: str) -> str:
    if chosen is not None:
        return chosen
    suffix = path.suffix.lower().lstrip(".") if path is not None else ""
    return suffix if suffix in FORMATS else default


def template_command(config: Config, out: Path | None, fmt: str | None) -> int:
    fmt = _format(out, fmt, "xlsx")
    path = out or Path(template_filename(fmt))
    try:
        path.write_bytes(roster_template([c.name for c in config.categories], fmt))
    except OSError as exc:
        print(f"error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote the roster template to {path}")
    return 0


async def workers_command(config: Config, database: str, action: str, path: Path, community: str | None,
                          fmt: str | None = None) -> int:
    name = community or config.communities[0].name
    if config.community(name) is None:
        print(f"error: --community {name!r} is not in {config.source}", file=sys.stderr)
        return 2
    if action == "import":  # read and check the whole file before the database is opened
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            print(f"error: {path}: file not found", file=sys.stderr)
            return 2
        except OSError as exc:
            print("error: " + MESSAGES["cannot_read"].format(source=path, reason=exc.strerror or exc), file=sys.stderr)
            return 2
        try:
            rows = read_roster(data, [c.name for c in config.categories])
        except RosterError as exc:
            lines = [MESSAGES["nothing_imported"].format(source=path), *(f"  {p}" for p in exc.problems)]
            print("\n".join(lines), file=sys.stderr)
            return 2
    repo = await open_repository(database)
    try:
        if action == "export":
            if _format(path, fmt, "csv") == "xlsx":
                data = await export_roster_xlsx(repo, name)
            else:
                data = (await export_roster(repo, name)).encode("utf-8-sig")
            try:
                path.write_bytes(data)
            except OSError as exc:
                print(f"error: {path}: {exc.strerror or exc}", file=sys.stderr)
                return 2
            print(f"exported the roster of {name} to {path}")
            return 0
        counts = await import_roster(repo, name, rows, SystemClock(config.tz).now().timestamp())
        print(f"imported {len(rows)} workers into {name}: {counts['added']} added, {counts['updated']} updated")
        return 0
    finally:
        await repo.close()
