"""``linggong console``: chat with the bot in a terminal, through the real WeChat path.

The console starts the local gateway (simulated WeChat built from config.toml) and the bot
in this process; the bot connects to the gateway with the real wechaty client over gRPC,
exactly as ``linggong run`` does.  Each line you type is delivered by the gateway as a
WeChat message from the current speaker; what the bot sends, as the gateway receives it,
is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import replace

from bot.cli.common import MESSAGES, add_db, database, fail, say, table
from bot.config import Config
from bot.directory import Directory
from bot.gateway import Contact, Gateway, SentRecord
from bot.render import Renderer
from bot.runtime import BotRuntime, timings_for

_IN = re.compile(r"^/in\s+(\S+)(?:\s+as\s+(\S+))?$")
_DM = re.compile(r"^/dm(?:\s+as\s+(\S+))?$")
_AS = re.compile(r"^/as\s+(\S+)$")
_MENTION = re.compile(r"@([^\s@\u2005]+)")
COMMANDS = "\n".join("  " + line for line in table(MESSAGES["console_help"], gap=4).splitlines())  # printed first
READY_TIMEOUT = 30.0
SETTLE_TIMEOUT = 15.0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    c = sub.add_parser("console", parents=[common], help="在这个终端里和机器人聊天（经 wechaty 和本机模拟的微信）",
                       description="在这个终端里和机器人聊天：启动本机模拟的微信网关和机器人，机器人经 wechaty "
                                   "连过来，和 linggong run 一样。\n每输入一行，就是当前说话的人发的一条微信消息；"
                                   "机器人发出的消息打印出来。\n以 / 开头的行是控制命令：\n" + COMMANDS)
    add_db(c)
    c.set_defaults(func=lambda args, config: run_console(config, database(args, config)))


class ConsoleChat:
    """Speaks into the local gateway as any contact and waits for the bot to finish answering."""

    def __init__(self, runtime: BotRuntime) -> None:
        assert runtime.gateway is not None, "the console needs the local gateway"
        self.runtime = runtime
        self.gateway: Gateway = runtime.gateway

    def room_id(self, topic: str) -> str | None:
        return next((r.id for r in self.gateway.state.rooms.values() if topic in (r.topic, r.id)), None)

    def contact_id(self, name: str, room_id: str | None) -> str:
        """The contact called ``name`` (id or name); a new person is added, and joins the room."""
        state = self.gateway.state
        contact = state.contacts.get(name) or next((c for c in state.contacts.values() if c.name == name), None)
        if contact is None:
            contact = Contact(name, name)
            self.gateway.add_contact(contact)
        if room_id is not None and contact.id not in state.rooms[room_id].member_ids:
            self.gateway.add_member(room_id, contact.id)
        return contact.id

    def mention_ids(self, text: str) -> list[str]:
        names = {c.name: c.id for c in self.gateway.state.contacts.values()}
        names[self.gateway.state.bot_name] = self.gateway.state.bot_id
        return [names[m] for m in _MENTION.findall(text) if m in names]

    async def say(self, speaker: str, room_topic: str | None, text: str) -> str:
        """Deliver ``text`` from ``speaker``; return when the bot has handled it and sent its replies."""
        room_id = self.room_id(room_topic) if room_topic else None
        sender = self.contact_id(speaker, room_id)
        msg_id = await self.gateway.inject_text(sender, text, room_id=room_id, mention_ids=self.mention_ids(text))
        await self.runtime.wait_handled(msg_id, SETTLE_TIMEOUT)
        await self.runtime.wait_outbox_idle(SETTLE_TIMEOUT)
        return msg_id


def format_sent(renderer: Renderer, gateway: Gateway, record: SentRecord, bot_name: str, clock_now: str) -> str:
    room = gateway.state.rooms.get(record.room_id or "")
    contact = gateway.state.contacts.get(record.contact_id or "")
    return renderer.render("demo_line", {
        "at": clock_now, "room": room.topic if room else None, "who": None, "bot": bot_name,
        "text": record.text.replace("\u2005", " "), "dm": (contact.name if contact else record.contact_id),
        "mentions": []})


async def _print_sent(runtime: BotRuntime, renderer: Renderer, queue: asyncio.Queue[SentRecord]) -> None:
    assert runtime.gateway is not None
    while True:
        record = await queue.get()
        at = record.at.astimezone(runtime.config.tz).strftime("%H:%M:%S")
        print(format_sent(renderer, runtime.gateway, record, runtime.config.bot.name, at), flush=True)
        queue.task_done()


async def run_console(config: Config, database: str) -> int:
    # A console is a local toy: its own gateway on a free port, no pacing between replies.
    config = replace(config, outbox=replace(config.outbox, min_interval=0.0),
                     wechat=replace(config.wechat, endpoint="", gateway_port=0, send_interval=0.0))
    runtime = BotRuntime(config, database, timings=timings_for(config))
    renderer = Renderer(config.tz)
    await runtime.start()
    assert runtime.gateway is not None
    queue = runtime.gateway.subscribe_sent()
    printer = asyncio.create_task(_print_sent(runtime, renderer, queue))
    try:
        await runtime.wait_ready(READY_TIMEOUT)
        await _loop(runtime, ConsoleChat(runtime), queue)
    finally:
        printer.cancel()
        await runtime.stop()
    return 0


async def _loop(runtime: BotRuntime, chat: ConsoleChat, queue: asyncio.Queue[SentRecord]) -> None:
    config = runtime.config
    rooms = Directory(config).group_keys
    grid = config.communities[0].grids[0]
    room: str | None = grid.groups[0]
    speaker = grid.residents[0] if grid.residents else grid.staff[0].name
    print(COMMANDS, flush=True)
    print(say("console_gateway", endpoint=runtime.endpoint), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        prompt = f"[{room or MESSAGES['console_dm']}] {speaker}> "
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
            if m.group(1) not in rooms:
                fail(say("console_unknown_group", room=m.group(1)))
                continue
            room, speaker = m.group(1), m.group(2) or speaker
            continue
        if m := _DM.match(line):
            room, speaker = None, m.group(1) or speaker
            continue
        if m := _AS.match(line):
            speaker = m.group(1)
            continue
        try:
            await chat.say(speaker, room, line)
        except TimeoutError:
            print(MESSAGES["console_timeout"], file=sys.stderr)
        await queue.join()  # everything the bot sent is printed before the next prompt
