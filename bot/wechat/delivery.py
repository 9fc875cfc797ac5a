"""The delivery check: the local gateway's one extension to the puppet-service protocol: "did this send arrive?".

A bot killed after it asked the gateway to send a message but before it recorded that
the message went out cannot know, after a restart, whether the message reached WeChat.
Real puppet-service gateways offer no way to ask (the protocol has no idempotency key and
no message list), so with them that message is sent again: delivery is at least once.
The local gateway keeps everything the bot sent and answers ``/linggong.Gateway/FindSent``:
the id of a message sent to ``conversation_id`` with exactly ``mention_ids`` whose text is
``text`` after the @mention prefix, at or after ``since`` (seconds since the epoch, the
bot's clock just before the send; the gateway runs on the same host), or "" when there is
none.  With it the outbox sends exactly once (docs/crash-test.md).  A real gateway answers
UNIMPLEMENTED, which the adapter reads as "cannot tell".

Plain betterproto messages and a grpclib handler: no wechaty import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import betterproto

FIND_SENT = "/linggong.Gateway/FindSent"
MENTION_PREFIX = re.compile("^(?:@[^\u2005]*\u2005)*")  # "@name" + U+2005 per mention, as the adapter writes


@dataclass
class FindSentRequest(betterproto.Message):
    conversation_id: str = betterproto.string_field(1)
    text: str = betterproto.string_field(2)  # the message without its @mention prefix
    mention_ids: list[str] = betterproto.string_field(3)
    since: float = betterproto.double_field(4)


@dataclass
class FindSentResponse(betterproto.Message):
    message_id: str = betterproto.string_field(1)  # "" when no such message was sent


def body_of(text: str) -> str:
    """A sent text without the leading @mentions."""
    return text[MENTION_PREFIX.match(text).end():]  # type: ignore[union-attr]


class FindSentStub(betterproto.ServiceStub):
    """The client side, on the puppet's own gRPC channel."""

    async def find_sent(self, request: FindSentRequest) -> FindSentResponse:
        return await self._unary_unary(FIND_SENT, request, FindSentResponse)
