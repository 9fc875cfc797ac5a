"""``linggong migrate``: copy a SQLite file into a shared database, or bring a schema up to date."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import fail, say
from bot.config import Config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    m = sub.add_parser("migrate", parents=[common],
                       help="把 SQLite 文件的数据复制到共用的数据库（PostgreSQL）；不给 --from 时升级数据库结构",
                       description="把一个 SQLite 文件的数据复制到共用的数据库（PostgreSQL），可以重复运行，"
                                   "已复制的不会重复；最后逐表核对行数。\n"
                                   "不给 --from 时，只把 --to 的数据库结构升级到最新（升级程序之后用）。")
    m.add_argument("--from", dest="source", metavar="SQLite文件",
                   help="原来的 SQLite 文件：sqlite:///data/linggong.db 或文件路径")
    m.add_argument("--to", dest="target", required=True, metavar="数据库",
                   help="目标数据库，例如 postgresql://linggong@db:5432/linggong")
    m.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    """Copy idempotently (a progress bar on stderr), then print the per-table count check;
    without ``--from`` only apply pending schema migrations (for upgrades)."""
    from storage import display_database
    from storage.migrate import MigrationError, migrate, upgrade

    try:
        if args.source is None:
            version, applied = await upgrade(args.target)
            done = say("schema_applied", versions="、".join(f"{n:03d}" for n in applied)) if applied else \
                say("schema_current")
            print(say("schema", database=display_database(args.target), version=version, done=done))
            return 0
        results = await migrate(args.source, args.target, progress=sys.stderr)
    except MigrationError as exc:
        fail(say("migrate_failed", message=exc))  # storage/migrate.py's words follow
        return 1
    for r in results:
        print(say("migrated", table=r.table, source=r.source, copied=r.inserted, target=r.target))
    return 0
