"""The server side of the delivery check (``bot.wechat.delivery``): the local gateway answers
``/linggong.Gateway/FindSent`` from everything the bot sent through it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grpclib.const import Cardinality, Handler

from bot.wechat.delivery import FIND_SENT, FindSentRequest, FindSentResponse

if TYPE_CHECKING:
    from grpclib.server import Stream

    from bot.gateway.server import Gateway


class GatewayExtension:
    """grpclib handler object for ``linggong.Gateway``, backed by a :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def __mapping__(self) -> dict[str, Handler]:
        return {FIND_SENT: Handler(self._find_sent, Cardinality.UNARY_UNARY, FindSentRequest, FindSentResponse)}

    async def _find_sent(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        await self.gw.wait_thawed()
        self.gw.calls.append("FindSent")
        record = self.gw.find_sent(request.conversation_id, request.text, tuple(request.mention_ids),
                                   request.since)
        await stream.send_message(FindSentResponse(message_id=record.message_id if record else ""))
