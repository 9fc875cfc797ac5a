"""Sending through one session: room messages with @mentions, direct messages, the delivery check.

Sends call the puppet rather than room.say()/contact.say(): those re-load the sent message
through MessagePayload afterwards, and when that fails (puppets that return no message id) a
delivered message looks failed, the app retries, and the group sees it twice.  The steps are
otherwise the same: an "@name" prefix per mention (the group alias when set, as WeChat shows
it), then MessageSendText.  Pacing is the outbox's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from bot.transport import NotConnected, SendError
from bot.wechat.delivery import FindSentRequest, FindSentStub

if TYPE_CHECKING:
    from bot.wechat.session import Link, SessionHost

AT_GAP = "\u2005"  # what WeChat puts after an @mention


class Sending:
    """The sending half of a ``Session`` (which supplies ``puppet``, ``_rpc``, ``_renew_pools`` and
    ``_resolve_rooms``)."""

    bot: SessionHost
    link: Link
    puppet: Any
    log: Any

    async def send_room(self, key: str, text: str, mentions: tuple[str, ...]) -> None:
        room_id, prefix, mention_ids = await self._room_target(key, mentions)
        await self._send_text(room_id, prefix + text, mention_ids)

    async def _room_target(self, key: str, mentions: tuple[str, ...]) -> tuple[str, str, list[str]]:
        """The room id of group ``key``, the @mention prefix and the ids it mentions."""
        room_id = self.bot.rooms.get(key)
        if room_id is None:
            self._renew_pools()
            await self._resolve_rooms(f"send to {key!r}", extra=(key,))
            room_id = self.bot.rooms.get(key)
        if room_id is None:
            raise SendError(f"group {key!r} not found", permanent=True)
        names: list[str] = []
        mention_ids: list[str] = []
        for contact_id in dict.fromkeys(mentions):
            name = await self._display_name(room_id, contact_id)
            if name is None:
                self.log.warning(
                    "cannot @mention unknown contact %s; sending without it", contact_id
                )
                continue
            names.append(name)
            mention_ids.append(contact_id)
        return room_id, "".join(f"@{name}{AT_GAP}" for name in names), mention_ids

    async def _display_name(self, room_id: str, contact_id: str) -> str | None:
        try:
            member = await self._rpc(self.puppet.room_member_payload(room_id, contact_id))
            if member.room_alias or member.name:
                return member.room_alias or member.name
        except GRPCError as exc:
            if exc.status != Status.NOT_FOUND:
                raise
        contact = await self._contact(contact_id)
        return (contact.name or contact_id) if contact is not None else None

    async def send_direct(self, key: str, text: str) -> None:
        contact = await self._contact_target(key)
        if self.link.check_friend and not contact.friend:
            raise SendError(f"{key} is not a friend of the bot", permanent=True)
        await self._send_text(contact.id, text, [])

    async def _contact_target(self, key: str) -> Any:
        """The contact whose id is ``key``.  Never looked up by display name: a name is chosen by
        its owner and shared by strangers, so a resident's details could reach the wrong person."""
        contact = await self._contact(key)
        if contact is None:
            raise SendError(f"contact {key!r} not found", permanent=True)
        return contact

    async def find_sent(self, room: str | None, contact: str | None, text: str,
                        mentions: tuple[str, ...], since: float) -> bool | None:
        """Ask the gateway whether it has this message (the local gateway's FindSent, see
        bot/wechat/delivery.py); None when the gateway does not answer that question."""
        if room is not None:
            conversation, _, mention_ids = await self._room_target(room, mentions)
        else:
            conversation, mention_ids = (await self._contact_target(contact or "")).id, []
        if self.puppet.channel is None:
            raise NotConnected("WeChat is not connected (reconnecting)")
        stub = FindSentStub(self.puppet.channel, timeout=self.timings.rpc_timeout)
        try:
            reply = await stub.find_sent(FindSentRequest(conversation_id=conversation, text=text,
                                                         mention_ids=list(mention_ids), since=since))
        except GRPCError as exc:
            if exc.status == Status.UNIMPLEMENTED:
                return None
            raise
        return bool(reply.message_id)

    async def _contact(self, contact_id: str) -> Any:
        try:
            payload = await self._rpc(self.puppet.contact_payload(contact_id))
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise
        return payload if payload.id else None

    async def _send_text(self, conversation_id: str, text: str, mention_ids: list[str]) -> None:
        await self._rpc(
            self.puppet.message_send_text(
                conversation_id=conversation_id, message=text, mention_ids=mention_ids or None,
            )
        )
