"""``linggong backup PATH`` and ``linggong restore PATH`` (SQLite; see ``storage.backup``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.common import add_db, database, fail, say
from bot.clock import SystemClock
from bot.config import Config
from storage.backup import BackupError, backup_database, restore_database, sqlite_path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser("backup", parents=[common], help="备份数据库，写一份检查过的副本（机器人运行时也可以）",
                       description="把数据库（SQLite）备份成一个文件，并检查备份完整；机器人运行时也可以备份。")
    b.add_argument("path", type=Path, metavar="备份文件",
                   help="要写的备份文件；给一个文件夹时，在里面写 linggong-时间.db")
    add_db(b)
    b.set_defaults(func=command)
    r = sub.add_parser("restore", parents=[common], help="用备份替换数据库（先停掉机器人）",
                       description="用 linggong backup 做的备份替换数据库（SQLite）；换下来的数据库另外保留。\n"
                                   "先停掉机器人（linggong run）再恢复。")
    r.add_argument("path", type=Path, metavar="备份文件", help="linggong backup 做的备份文件")
    add_db(r)
    r.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    now = SystemClock(config.tz).now()
    try:
        path = sqlite_path(database(args, config))
        if args.command == "backup":
            info = backup_database(path, args.path, now)
            print(say("backup_written", path=info.path, orders=info.orders, workers=info.workers,
                      size=info.size / 1e6))
        else:
            info, kept = restore_database(args.path, path, now)
            print(say("restored", source=args.path, database=path, orders=info.orders, workers=info.workers))
            if kept is not None:
                print(say("restore_kept", path=kept))
    except BackupError as exc:  # storage/backup.py's words follow
        fail(say("backup_failed" if args.command == "backup" else "restore_failed", message=exc))
        return 2
    return 0
