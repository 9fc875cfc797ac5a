"""``linggong console``: chat with the bot in a terminal, switching room and speaker.

  /in 洗马社区第一网格群 as 张阿姨    speak in a group as someone
  /dm as 杨先媚                        speak to the bot directly
  /as 熊明祥                           change speaker, stay in the room
  /rooms                               list the configured groups
  /quit
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
from dataclasses import replace

from bot.app import App
from bot.clock import SystemClock
from bot.config import Config
from bot.directory import Directory
from bot.render import Renderer
from bot.transport import IncomingMessage, SentMessage
from storage import open_repository

_IN = re.compile(r"^/in\s+(\S+)(?:\s+as\s+(\S+))?$")
_DM = re.compile(r"^/dm(?:\s+as\s+(\S+))?$")
_AS = re.compile(r"^/as\s+(\S+)$")


class PrintingTransport:
    def __init__(self, renderer: Renderer, bot_name: str, clock: SystemClock) -> None:
        self.renderer, self.bot_name, self.clock = renderer, bot_name, clock

    def _print(self, sent: SentMessage) -> None:
        print(self.renderer.render("demo_line", {
            "at": self.clock.now().strftime("%H:%M:%S"), "room": sent.room, "who": None, "bot": self.bot_name,
            "text": sent.text, "dm": sent.contact, "mentions": list(sent.mentions)}), flush=True)

    async def send_room(self, room: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        self._print(SentMessage(room, None, text, tuple(mentions)))

    async def send_direct(self, contact: str, text: str) -> None:
        self._print(SentMessage(None, contact, text))


async def run_console(config: Config, database: str) -> int:
    clock = SystemClock(config.tz)
    config = replace(config, outbox=replace(config.outbox, min_interval=0.0))
    renderer = Renderer(config.tz)
    repo = await open_repository(database)
    app = App(config, repo, clock, PrintingTransport(renderer, config.bot.name, clock), renderer)
    await app.setup()
    rooms = Directory(config).group_keys
    room: str | None = rooms[0]
    speaker = next((r for g in config.communities[0].grids for r in g.residents), config.communities[0].grids[0].staff[0])
    counter = itertools.count(1)
    print(__doc__)
    loop = asyncio.get_running_loop()
    try:
        while True:
            prompt = f"[{room or 'DM'}] {speaker}> "
            try:
                line = (await loop.run_in_executor(None, input, prompt)).strip()
            except EOFError:
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line == "/rooms":
                print("\n".join(rooms))
                continue
            if m := _IN.match(line):
                room, speaker = m.group(1), m.group(2) or speaker
                if room not in rooms:
                    print(f"unknown group {room}; /rooms lists them", file=sys.stderr)
                continue
            if m := _DM.match(line):
                room, speaker = None, m.group(1) or speaker
                continue
            if m := _AS.match(line):
                speaker = m.group(1)
                continue
            msg = IncomingMessage(id=f"console:{clock.now().timestamp()}:{next(counter)}", sender_id=speaker,
                                  sender_name=speaker, text=line, at=clock.now(), room_id=room, room_topic=room)
            await app.process(msg)
            await app.outbox.flush()
    finally:
        await repo.close()
    return 0
