"""Receiving through one session: a message event's payload as the app's ``IncomingMessage``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.transport import IncomingMessage
from bot.wechat.quote import recalled_id, split_appmsg_quote, split_quote, strip_leading_mention
from bot.wechat.support import message_time
from bot.wechat.transport import describe

if TYPE_CHECKING:
    from bot.wechat.session import Link


class Receiving:
    """The receiving half of a ``Session`` (which supplies ``wechaty``, ``self_id``, ``self_name``)."""

    link: Link
    wechaty: Any
    log: Any
    self_id: str
    self_name: str
    number: int
    _bot_alias: dict[str, str]

    async def _to_incoming(self, message_id: str) -> IncomingMessage | None:
        message = self.wechaty.Message.load(message_id)
        await message.ready()
        payload = message.payload
        if not payload.from_id or payload.from_id == self.self_id:
            self.log.debug("ignoring the bot's own message %s", message_id)
            return None
        types = self.link.wx.MessageType
        if payload.type == types.MESSAGE_TYPE_RECALLED:  # wechaty: the text is the recalled message's id
            return IncomingMessage(id=message_id, sender_id=payload.from_id, sender_name="", text="",
                                   at=message_time(payload.timestamp, self.link.clock.tz, self.link.clock.now()),
                                   media="recall", quote=recalled_id(payload.text or ""))
        media = {types.MESSAGE_TYPE_AUDIO: "voice", types.MESSAGE_TYPE_IMAGE: "image"}.get(payload.type, "")
        appmsg = split_appmsg_quote(payload.text or "") if not media else None
        if payload.type != types.MESSAGE_TYPE_TEXT and not media and appmsg is None:
            self.log.debug("ignoring message %s of type %s", message_id, payload.type)
            return None
        talker = message.talker()
        sender_name = talker.name or payload.from_id
        room = message.room()
        quote, text = appmsg or (split_quote(payload.text or "") if not media else (None, ""))
        bot_names = [self.self_name]
        room_id = topic = None
        mentions: tuple[str, ...] = ()
        if room is not None:
            room_id, topic = room.room_id, room.payload.topic
            sender_name = await self._alias(room, payload.from_id) or sender_name
            bot_names.append(await self._bot_alias_in(room))
            mentions = tuple(
                dict.fromkeys(m for m in payload.mention_ids if m and m != self.self_id)
            )
        fallback = self.link.clock.now()  # only when the gateway gives no time
        return IncomingMessage(
            id=message_id,
            sender_id=payload.from_id,
            sender_name=sender_name,
            text=strip_leading_mention(text, bot_names).strip(),
            at=message_time(payload.timestamp, self.link.clock.tz, fallback),
            room_id=room_id,
            room_topic=topic,
            mentions=mentions,
            quote=quote,
            media=media,
        )

    async def _alias(self, room: Any, contact_id: str) -> str:
        try:
            return await room.alias(self.wechaty.Contact.load(contact_id)) or ""
        except Exception as exc:
            self.log.debug(
                "no group alias for %s in %s: %s", contact_id, room.room_id, describe(exc)
            )
            return ""

    async def _bot_alias_in(self, room: Any) -> str:
        if room.room_id not in self._bot_alias:
            self._bot_alias[room.room_id] = await self._alias(room, self.self_id)
        return self._bot_alias[room.room_id]
