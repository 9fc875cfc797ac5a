"""The transport port: the only view of a chat network that handlers and the app have.

Adapters (wechaty, replay, the console, tests) turn their own message types into
``IncomingMessage`` and implement ``Transport`` for sending.  Rooms are addressed by
their *key*: the group name or room id exactly as written in config.toml; an adapter
resolves the key to its own room object.  Contacts are addressed by contact id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class IncomingMessage:
    """One text message received by the bot.

    ``room_id``/``room_topic`` are both None for a direct chat with the bot.
    ``mentions`` holds contact ids that the sender @mentioned (the bot excluded).
    ``quote`` is the text of a quoted (引用) message, if the network gave one.
    ``source`` says where the message came from when it is not a chat: ``"qr"`` for the web
    QR-code order form, which posts into a grid group on a resident's behalf.  Intake records
    it on the order.
    ``media`` is ``"voice"`` or ``"image"`` for a voice note or picture (``text`` is then empty):
    the bot cannot read them, so they go to the grid's staff (handlers/media.py).
    """

    id: str
    sender_id: str
    sender_name: str
    text: str
    at: datetime
    room_id: str | None = None
    room_topic: str | None = None
    mentions: tuple[str, ...] = ()
    quote: str | None = None
    source: str = "chat"
    media: str = ""

    @property
    def is_direct(self) -> bool:
        return self.room_id is None and self.room_topic is None


class SendError(Exception):
    """Raised by a transport when a message could not be delivered.

    ``permanent`` marks failures that retrying will not fix (not a friend, unknown room).
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class NotConnected(SendError):
    """The network is not connected right now (e.g. reconnecting); nothing was attempted.

    The outbox waits and tries again without counting an attempt, so an outage of any
    length never turns committed replies into failures.
    """

    def __init__(self, reason: str = "not connected") -> None:
        super().__init__(reason, permanent=False)


class Transport(Protocol):
    """What the bot needs from a chat network to talk back."""

    async def send_room(self, room: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        """Send ``text`` to the room with key ``room``, @mentioning contact ids ``mentions``."""

    async def send_direct(self, contact: str, text: str) -> None:
        """Send ``text`` to the contact id ``contact`` as a direct message."""


@runtime_checkable
class DeliveryCheck(Protocol):
    """Optional: a transport that can tell whether a send it may have made went out.

    The outbox asks before it repeats a send whose outcome it never recorded (the bot died
    or the call failed after the request may have left).  ``since`` is the time (seconds
    since the epoch) just before that send began.  True: the network has the message, do
    not send it again; False: it does not, send it; None: cannot tell (real WeChat
    gateways), so it is sent again and may arrive twice.  May raise ``NotConnected``.
    """

    async def find_sent(self, room: str | None, contact: str | None, text: str,
                        mentions: tuple[str, ...], since: float) -> bool | None: ...


@dataclass
class SentMessage:
    """A message as a transport delivered it (used by recording transports)."""

    room: str | None
    contact: str | None
    text: str
    mentions: tuple[str, ...] = ()
    at: datetime | None = None


@dataclass
class RecordingTransport:
    """A transport that records what it sends; used by replay, the console and tests."""

    sent: list[SentMessage] = field(default_factory=list)
    clock: object | None = None
    fail_direct: set[str] = field(default_factory=set)

    def _now(self) -> datetime | None:
        return self.clock.now() if self.clock is not None else None  # type: ignore[attr-defined]

    async def send_room(self, room: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        self.sent.append(SentMessage(room, None, text, tuple(mentions), self._now()))

    async def send_direct(self, contact: str, text: str) -> None:
        if contact in self.fail_direct:
            raise SendError(f"contact {contact} is not a friend", permanent=True)
        self.sent.append(SentMessage(None, contact, text, (), self._now()))
