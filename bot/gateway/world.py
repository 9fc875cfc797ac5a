"""The simulated WeChat world the local gateway serves: plain data, no gRPC.

A ``World`` is the starting description (who exists, which groups, who is in them);
``WorldState`` is the live, mutable copy the gateway works on (messages, friend flags,
renames).  Both are independent of the app's config format.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The TypeScript puppet's message-type numbers, which the Python client expects
# on the wire (it remaps them to the gRPC enum).  Text is 7, not the enum's 6.
MSG_TEXT = 7
MSG_IMAGE = 6
MSG_AUDIO = 2
MSG_EMOTICON = 5


@dataclass
class Contact:
    id: str
    name: str
    friend: bool = True
    alias: str = ""  # the bot owner's remark (备注) for this contact


@dataclass
class Room:
    id: str
    topic: str
    member_ids: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # member id -> group alias (群昵称)
    owner_id: str = ""


@dataclass
class World:
    bot_id: str
    bot_name: str
    contacts: list[Contact] = field(default_factory=list)
    rooms: list[Room] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> World:
        """Build a world from JSON-like data (``contacts``/``rooms`` as lists of dicts)."""
        return cls(
            bot_id=data["bot_id"],
            bot_name=data["bot_name"],
            contacts=[Contact(**c) for c in data.get("contacts", [])],
            rooms=[
                Room(
                    id=r["id"],
                    topic=r["topic"],
                    member_ids=list(r.get("member_ids", [])),
                    aliases=dict(r.get("aliases", {})),
                    owner_id=r.get("owner_id", ""),
                )
                for r in data.get("rooms", [])
            ],
        )


@dataclass
class StoredMessage:
    id: str
    from_id: str
    text: str
    timestamp: int  # seconds since the epoch
    room_id: str = ""
    to_id: str = ""
    mention_ids: tuple[str, ...] = ()
    type: int = MSG_TEXT


@dataclass(frozen=True)
class SentRecord:
    """One message the bot sent through the gateway."""

    conversation_id: str
    text: str
    mention_ids: tuple[str, ...]
    at: datetime
    message_id: str
    room_id: str | None = None
    contact_id: str | None = None


class Refused(Exception):
    """WeChat refuses a send; ``code`` is the gRPC status name in lower case."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WorldState:
    """The gateway's live view of the world; every mutation goes through here."""

    def __init__(self, world: World) -> None:
        self.bot_id = world.bot_id
        self.bot_name = world.bot_name
        self.contacts: dict[str, Contact] = {c.id: Contact(**vars(c)) for c in world.contacts}
        self.rooms: dict[str, Room] = {}
        for room in world.rooms:
            members = list(room.member_ids)
            if world.bot_id not in members:
                members.append(world.bot_id)  # the bot is in every group it serves
            self.rooms[room.id] = Room(
                room.id, room.topic, members, dict(room.aliases), room.owner_id
            )
        self.messages: dict[str, StoredMessage] = {}
        self._ids = itertools.count(1)
        # Message ids must never repeat across gateway runs: the bot records processed ids
        # in its database, so a restarted gateway reusing "gw-msg-1" would look like a duplicate.
        self._boot = uuid.uuid4().hex[:8]

    def new_message_id(self) -> str:
        while True:
            candidate = f"gw-{self._boot}-{next(self._ids)}"
            if candidate not in self.messages:
                return candidate

    def contact(self, contact_id: str) -> Contact | None:
        if contact_id == self.bot_id:
            return Contact(self.bot_id, self.bot_name, friend=False)
        return self.contacts.get(contact_id)

    def add_contact(self, contact: Contact) -> None:
        self.contacts[contact.id] = contact

    def set_friend(self, contact_id: str, friend: bool) -> None:
        self._require_contact(contact_id).friend = friend

    def add_member(self, room_id: str, contact_id: str, alias: str = "") -> None:
        room = self._require_room(room_id)
        self._require_contact(contact_id)
        if contact_id not in room.member_ids:
            room.member_ids.append(contact_id)
        if alias:
            room.aliases[contact_id] = alias

    def rename_room(self, room_id: str, topic: str) -> str:
        room = self._require_room(room_id)
        old, room.topic = room.topic, topic
        return old

    def store_incoming(
        self,
        from_id: str,
        text: str,
        room_id: str | None,
        mention_ids: tuple[str, ...],
        msg_id: str | None,
        msg_type: int,
        timestamp: int,
    ) -> str:
        """Store a message someone sends (an existing ``msg_id`` is kept as it was)."""
        self.check_sender(from_id, room_id)
        msg_id = msg_id or self.new_message_id()
        if msg_id not in self.messages:
            self.messages[msg_id] = StoredMessage(
                id=msg_id,
                from_id=from_id,
                text=text,
                timestamp=timestamp,
                room_id=room_id or "",
                to_id="" if room_id else self.bot_id,
                mention_ids=mention_ids,
                type=msg_type,
            )
        return msg_id

    def store_bot_text(
        self, conversation_id: str, text: str, mention_ids: tuple[str, ...], timestamp: int
    ) -> StoredMessage:
        """Store a text the bot sends to a room or contact; raise Refused if WeChat would."""
        room = self.rooms.get(conversation_id)
        contact = None if room else self.contacts.get(conversation_id)
        if room is None and contact is None:
            raise Refused("not_found", f"conversation {conversation_id} not found")
        if room is not None and self.bot_id not in room.member_ids:
            raise Refused("failed_precondition", f"not a member of room {conversation_id}")
        if contact is not None and not contact.friend:
            raise Refused("failed_precondition", f"{conversation_id} is not a friend")
        message = StoredMessage(
            id=self.new_message_id(),
            from_id=self.bot_id,
            text=text,
            timestamp=timestamp,
            room_id=conversation_id if room else "",
            to_id="" if room else conversation_id,
            mention_ids=mention_ids,
        )
        self.messages[message.id] = message
        return message

    def check_sender(self, from_id: str, room_id: str | None) -> None:
        if from_id != self.bot_id:
            self._require_contact(from_id)
        if room_id is not None and from_id not in self._require_room(room_id).member_ids:
            raise ValueError(f"{from_id} is not a member of room {room_id}")

    def _require_contact(self, contact_id: str) -> Contact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise KeyError(f"unknown contact {contact_id}")
        return contact

    def _require_room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            raise KeyError(f"unknown room {room_id}")
        return room
