"""``linggong demo``: a scripted morning in the demo community, printed as a conversation."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bot.config import Config
from bot.render import Renderer
from bot.replay import ReplaySession, parse_lines

SCRIPT = Path(__file__).with_name("demo_morning.jsonl")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    d = sub.add_parser("demo", parents=[common], help="演示：回放示范社区写好的一个上午，打印成对话",
                       description="演示：把示范社区写好的一个上午（居民发需求、网格员派单、零工抢单、完成、评价）"
                                   "交给机器人，把群里和私聊的对话打印出来。")
    d.add_argument("--db", metavar="数据库", help="数据库文件（默认：新建一个临时的）")
    d.set_defaults(func=lambda args, config: run_demo(config, args.db))


async def run_demo(config: Config, database: str | None, script: Path = SCRIPT) -> int:
    renderer = Renderer(config.tz)
    lines = parse_lines(script.read_text(encoding="utf-8").splitlines(), config, str(script))
    with tempfile.TemporaryDirectory() as tmp:
        session = await ReplaySession.open(config, database or str(Path(tmp) / "demo.db"), lines[0].at)
        try:
            shown = 0

            def show_sent() -> None:
                nonlocal shown
                for sent in session.transport.sent[shown:]:
                    out = session.output(sent)
                    print(renderer.render("demo_line", {"at": out["at"][11:], "room": out["room"], "who": None,
                                                        "bot": config.bot.name, "text": out["text"],
                                                        "dm": out["dm"], "mentions": out["mentions"]}))
                shown = len(session.transport.sent)

            for line in lines:
                await session.advance_to(line.at)
                show_sent()
                if line.message is not None:
                    m = line.message
                    print(renderer.render("demo_line", {"at": line.at.strftime("%H:%M:%S"), "room": m.room_topic,
                                                        "who": m.sender_name, "bot": None, "text": m.text,
                                                        "dm": None, "mentions": []}))
                await session.feed(line)
                show_sent()
            await session.advance_to(None)
            show_sent()
        finally:
            await session.close()
    return 0
