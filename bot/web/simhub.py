"""The simulator's chat log: what people typed through the web, and what the bot sent.

People's messages go into the local gateway (``inject_text``), from there through the real
wechaty client to the app; the bot's replies come back through the outbox, wechaty and the
gateway, which reports each one (``subscribe_sent``).  Both are kept here, numbered, and
pushed to every open page (server-sent events).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from bot.background import Background
from bot.clock import Clock
from bot.gateway import Contact, Gateway, SentRecord

log = logging.getLogger(__name__)

DIRECT = "dm:"  # conversation ids of direct chats: "dm:<contact id>"; rooms use their room id


@dataclass(frozen=True)
class ChatItem:
    seq: int
    conv: str
    kind: str  # "person" (someone typed it) or "bot"
    sender_id: str
    sender_name: str
    text: str
    mentions: tuple[str, ...]  # names
    at: str  # HH:MM:SS
    via: str = ""  # set (labels.toml [web.sim].via_*) when it did not come through WeChat

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SimHub:
    def __init__(self, gateway: Gateway, clock: Clock, keep: int = 2000) -> None:
        self.gateway, self.clock = gateway, clock
        self.items: deque[ChatItem] = deque(maxlen=keep)
        self._seq = itertools.count(1)
        self._subscribers: set[asyncio.Queue[ChatItem | None]] = set()
        self._follower = Background(self._follow_bot, "sim-follow-bot")

    @property
    def world(self):  # the gateway's live world: contacts and rooms as they are now
        return self.gateway.state

    # lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()
        for queue in list(self._subscribers):
            queue.put_nowait(None)

    async def _follow_bot(self) -> None:
        queue = self.gateway.subscribe_sent()
        try:
            while True:
                self._bot_sent(await queue.get())
        finally:
            self.gateway.unsubscribe_sent(queue)

    # the log --------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[ChatItem | None]:
        queue: asyncio.Queue[ChatItem | None] = asyncio.Queue(maxsize=5000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ChatItem | None]) -> None:
        self._subscribers.discard(queue)

    def since(self, seq: int) -> list[ChatItem]:
        return [item for item in self.items if item.seq > seq]

    def _add(self, conv: str, kind: str, sender_id: str, sender_name: str, text: str,
             mentions: tuple[str, ...] = (), via: str = "") -> ChatItem:
        item = ChatItem(next(self._seq), conv, kind, sender_id, sender_name, text, mentions,
                        self.clock.now().strftime("%H:%M:%S"), via)
        self.items.append(item)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a page that stopped reading: end its stream, it reconnects
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)
        return item

    def _bot_sent(self, record: SentRecord) -> None:
        conv = record.room_id or DIRECT + (record.contact_id or record.conversation_id)
        names = tuple(self.name_of(m) for m in record.mention_ids)
        self._add(conv, "bot", self.world.bot_id, self.world.bot_name, record.text, names)

    # who and where ----------------------------------------------------------------------
    def name_of(self, contact_id: str) -> str:
        contact = self.world.contact(contact_id)
        return contact.name if contact is not None else contact_id

    def room_by_key(self, key: str):
        return next((r for r in self.world.rooms.values() if key in (r.id, r.topic)), None)

    def conversation(self, conv: str) -> tuple[str | None, str | None]:
        """(room id, None) for a room, (None, contact id) for a direct chat, or (None, None)."""
        if conv.startswith(DIRECT):
            contact_id = conv[len(DIRECT):]
            return (None, contact_id) if contact_id in self.world.contacts else (None, None)
        return (conv, None) if conv in self.world.rooms else (None, None)

    def may_speak(self, conv: str, speaker: str) -> bool:
        room_id, contact_id = self.conversation(conv)
        if contact_id is not None:
            return speaker == contact_id
        return room_id is not None and speaker in self.world.rooms[room_id].member_ids \
            and speaker != self.world.bot_id

    def mentions_in(self, room_id: str, text: str) -> list[str]:
        """Contact ids of the room's members @mentioned in ``text`` (the bot included)."""
        room = self.world.rooms[room_id]
        found = []
        for member in room.member_ids:
            names = {self.name_of(member), room.aliases.get(member, "")} - {""}
            if any(re.search("@" + re.escape(n) + r"(?=[\s\u2005]|$)", text) for n in names):
                found.append(member)
        return found

    # speaking -------------------------------------------------------------------------
    async def say(self, conv: str, speaker: str, text: str) -> ChatItem:
        """``speaker`` types ``text`` in ``conv``; it goes to the bot through WeChat (the gateway)."""
        room_id, _ = self.conversation(conv)
        mention_ids = self.mentions_in(room_id, text) if room_id else []
        names = tuple(self.name_of(m) for m in mention_ids)
        item = self._add(conv, "person", speaker, self.name_of(speaker), text, names)
        await self.gateway.inject_text(speaker, text, room_id=room_id, mention_ids=mention_ids,
                                       msg_id=f"sim-{uuid.uuid4().hex}")
        return item

    def note_direct(self, contact_id: str, text: str, via: str) -> None:
        """A message to the bot that did not come through WeChat (the dashboard)."""
        if contact_id in self.world.contacts:
            self._add(DIRECT + contact_id, "person", contact_id, self.name_of(contact_id), text, via=via)

    def note_room(self, room_key: str, sender_id: str, sender_name: str, text: str, via: str) -> None:
        room = self.room_by_key(room_key)
        if room is not None:
            self._add(room.id, "person", sender_id, sender_name, text, via=via)

    def add_person(self, name: str, room_id: str) -> None:
        """Someone new joins a group (e.g. a worker who wants to 登记)."""
        if name not in self.world.contacts:
            self.gateway.add_contact(Contact(name, name))
        self.gateway.add_member(room_id, name)
