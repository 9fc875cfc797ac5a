"""``linggong workers import|export|template|codes``: the worker roster as a CSV or xlsx file.

Import reads the file with ``bot.sheets.roster.read_roster``, the reader the dashboard uses: CSV
(UTF-8 or GBK) or xlsx, told apart by content.  Export and template write xlsx or CSV (with a BOM,
so Excel opens it as UTF-8), by ``--format`` or the file name's suffix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import (
    UsageError,
    add_db,
    database,
    fail,
    pick_community,
    reason,
    say,
)
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
                       help="导入或导出零工名册（CSV 或 xlsx）；template 生成空白名册模板；codes 给没绑定的零工绑定码",
                       description="零工名册：\n"
                                   "  import 名册.xlsx     导入名册：xlsx，或 CSV（UTF-8 或 GBK）\n"
                                   "                       有问题时全部列出，改好之前一行也不导入\n"
                                   "  export 名册.xlsx     导出名册（xlsx 或 CSV，看文件名或 --format）\n"
                                   "  template             生成一份空白名册模板（默认 零工名册模板.xlsx）\n"
                                   "  codes                给没绑定的零工绑定码（印在承诺书上）")
    w.add_argument("action", choices=["import", "export", "template", "codes"], help="要做什么（见上）")
    w.add_argument("file", type=Path, nargs="?", metavar="文件", help="import 和 export 的名册文件")
    w.add_argument("--out", type=Path, metavar="文件", help="template 写到这个文件（默认：零工名册模板.xlsx）")
    w.add_argument("--format", choices=FORMATS,
                   help="export 和 template 的格式：xlsx 或 csv（默认看文件名；看不出时 export 用 csv，"
                        "template 用 xlsx）")
    add_db(w)
    w.add_argument("--community", metavar="社区", help="社区名称（默认：配置里的第一个社区）")
    w.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    if args.action == "codes":  # the 承诺书 slips' codes: linggong bind for workers only
        from bot.cli.bind import bind_command

        args.hours, args.reset, args.people = CODE_HOURS, None, False
        return await bind_command(args, config, workers=True)
    if args.action == "template":
        return template_command(config, args.out or args.file, args.format)
    if args.file is None:
        raise UsageError(say("needs_file", action=args.action))
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
        fail(say("cannot_write", path=path, reason=reason(exc)))
        return 2
    print(say("template_written", path=path))
    return 0


async def workers_command(config: Config, database: str, action: str, path: Path, community: str | None,
                          fmt: str | None = None) -> int:
    name = pick_community(config, community).name  # an unknown name is a UsageError naming the communities
    if action == "import":  # read and check the whole file before the database is opened
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            fail(say("file_missing", path=path))
            return 2
        except OSError as exc:
            fail(MESSAGES["cannot_read"].format(source=path, reason=reason(exc)))
            return 2
        try:
            rows = read_roster(data, [c.name for c in config.categories])
        except RosterError as exc:
            fail("\n".join([MESSAGES["nothing_imported"].format(source=path), *(f"  {p}" for p in exc.problems)]))
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
                fail(say("cannot_write", path=path, reason=reason(exc)))
                return 2
            print(say("roster_exported", community=name, path=path))
            return 0
        counts = await import_roster(repo, name, rows, SystemClock(config.tz).now().timestamp())
        print(say("roster_imported", count=len(rows), community=name, added=counts["added"],
                  updated=counts["updated"]))
        return 0
    finally:
        await repo.close()
