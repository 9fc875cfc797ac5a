"""``linggong replay chat.jsonl``: feed a recorded chat through the bot and print what it sends."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bot.config import Config
from bot.replay import replay_file


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser("replay", parents=[common], help="feed a recorded chat (JSON lines) through the bot")
    r.add_argument("chat", type=Path)
    r.add_argument("--db", help="database file (default: a fresh temporary one)")
    r.add_argument("--out", type=Path, help="write outgoing messages here (default: stdout)")
    r.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database = args.db or str(Path(tmp) / "replay.db")
        _, out = await replay_file(config, args.chat, database)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in out)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
