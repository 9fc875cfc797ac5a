"""``linggong backup PATH`` and ``linggong restore PATH`` (SQLite; see ``storage.backup``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import add_db, database
from bot.clock import SystemClock
from bot.config import Config
from storage.backup import BackupError, backup_database, restore_database, sqlite_path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser("backup", parents=[common], help="write a checked copy of the database (safe while the bot runs)")
    b.add_argument("path", type=Path, help="backup file to write, or a folder to put linggong-<time>.db in")
    add_db(b)
    b.set_defaults(func=command)
    r = sub.add_parser("restore", parents=[common], help="replace the database with a backup (stop the bot first)")
    r.add_argument("path", type=Path, help="backup file made by `linggong backup`")
    add_db(r)
    r.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    now = SystemClock(config.tz).now()
    try:
        path = sqlite_path(database(args, config))
        if args.command == "backup":
            info = backup_database(path, args.path, now)
            print(f"backup written to {info.path}: {info.orders} orders, {info.workers} workers, "
                  f"{info.size / 1e6:.1f} MB, integrity check ok")
        else:
            info, kept = restore_database(args.path, path, now)
            print(f"restored {args.path} into {path}: {info.orders} orders, {info.workers} workers")
            if kept is not None:
                print(f"the database it replaced is kept as {kept}")
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
