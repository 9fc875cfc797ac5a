"""``linggong replay chat.jsonl``: feed a recorded chat through the bot and print what it sends."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bot.cli.common import fail, reason, say
from bot.config import Config
from bot.replay import replay_file

HELP = "把录下的一段聊天（JSON 行文件）交给机器人处理，打印它发出的消息"
DESCRIPTION = """把录下的一段聊天（JSON 行文件，每行一条消息）按时间交给机器人处理，
把机器人发出的每条消息打印成一行 JSON（键名固定为英文：at、room、dm、text、mentions）。"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser("replay", parents=[common], help=HELP, description=DESCRIPTION)
    r.add_argument("chat", type=Path, metavar="聊天记录.jsonl", help="录下的聊天，每行一条 JSON 消息")
    r.add_argument("--db", metavar="数据库", help="数据库文件（默认：新建一个临时的）")
    r.add_argument("--out", type=Path, metavar="文件", help="把机器人发出的消息写到这个文件（默认：打印出来）")
    r.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database = args.db or str(Path(tmp) / "replay.db")
        try:
            _, out = await replay_file(config, args.chat, database)
        except FileNotFoundError as exc:
            fail(say("file_missing", path=exc.filename or args.chat))
            return 2
        except OSError as exc:
            fail(say("cannot_read", path=exc.filename or args.chat, reason=reason(exc)))
            return 2
        except UnicodeDecodeError:
            fail(say("cannot_read", path=args.chat, reason=say("not_utf8")))
            return 2
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in out)
    if args.out:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(say("cannot_write", path=args.out, reason=reason(exc)))
            return 2
    else:
        sys.stdout.write(text)
    return 0
