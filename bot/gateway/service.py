"""The puppet-service gRPC handlers of the local gateway (grpclib server side).

betterproto generated only the client stub for ``wechaty.Puppet``; a grpclib server is
any object whose ``__mapping__()`` maps ``/wechaty.Puppet/<Rpc>`` to a handler.  Every
RPC of the protocol is mapped: the ones the Python client uses to log in, receive
and send text are simulated from the world state; all others answer an empty
response, so a client calling them gets a sane answer instead of an error or a hang.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server
from wechaty_grpc.wechaty import puppet as pb

if TYPE_CHECKING:
    from grpclib._typing import IServable
    from grpclib.server import Stream

    from bot.gateway.server import Gateway

UNARY_RPCS = (
    "Start Stop Logout Ding Version DirtyPayload ContactSelfQRCode ContactSelfName "
    "ContactSelfSignature ContactPayload ContactAlias ContactAvatar ContactPhone "
    "ContactCorporationRemark ContactDescription ContactList FriendshipPayload "
    "FriendshipSearchPhone FriendshipSearchWeixin FriendshipAdd FriendshipAccept "
    "MessageFile MessageImage MessageSendFile MessagePayload MessageContact "
    "MessageMiniProgram MessageUrl MessageRecall MessageSendContact MessageSendText "
    "MessageSendMiniProgram MessageSendUrl RoomPayload RoomList RoomAdd RoomAvatar "
    "RoomCreate RoomDel RoomQuit RoomTopic RoomQRCode RoomAnnounce RoomMemberPayload "
    "RoomMemberList RoomInvitationPayload RoomInvitationAccept TagContactAdd "
    "TagContactRemove TagContactDelete TagContactList"
).split()
UNARY_STREAM_RPCS = ("Event", "MessageFileStream", "MessageImageStream")
STREAM_UNARY_RPCS = ("MessageSendFileStream",)

EVENT_HEARTBEAT = int(pb.EventType.EVENT_TYPE_HEARTBEAT)
EVENT_MESSAGE = int(pb.EventType.EVENT_TYPE_MESSAGE)
EVENT_DONG = int(pb.EventType.EVENT_TYPE_DONG)
EVENT_ROOM_TOPIC = int(pb.EventType.EVENT_TYPE_ROOM_TOPIC)
EVENT_READY = int(pb.EventType.EVENT_TYPE_READY)
EVENT_LOGIN = int(pb.EventType.EVENT_TYPE_LOGIN)
EVENT_LOGOUT = int(pb.EventType.EVENT_TYPE_LOGOUT)

_CLASSES = MappingProxyType({name.lower(): getattr(pb, name) for name in dir(pb)})


def message_classes(rpc: str) -> tuple[type, type]:
    """The request and response classes of ``rpc`` (betterproto spells QRCode as QrCode)."""
    return _CLASSES[f"{rpc}request".lower()], _CLASSES[f"{rpc}response".lower()]


def event(kind: int, **payload: Any) -> pb.EventResponse:
    return pb.EventResponse(type=kind, payload=json.dumps(payload, ensure_ascii=False))


def _empty_answer(response: type, _request: Any) -> Any:
    return response()


def _not_found(what: str) -> GRPCError:
    return GRPCError(Status.NOT_FOUND, f"{what} not found")


class PuppetHandlers:
    """grpclib handler object for ``wechaty.Puppet``, backed by a :class:`Gateway`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.state = gateway.state

    def __mapping__(self) -> dict[str, Handler]:
        simulated: dict[str, Callable[[Any], Any]] = {
            "Start": self._start,
            "Stop": self._stop,
            "Logout": self._logout,
            "Ding": self._ding,
            "Version": lambda _: pb.VersionResponse(version="linggong-gateway"),
            "ContactPayload": self._contact_payload,
            "ContactList": lambda _: pb.ContactListResponse(ids=list(self.state.contacts)),
            "ContactAlias": self._contact_alias,
            "MessagePayload": self._message_payload,
            "MessageSendText": self._message_send_text,
            "RoomList": lambda _: pb.RoomListResponse(ids=list(self.state.rooms)),
            "RoomPayload": self._room_payload,
            "RoomMemberList": self._room_member_list,
            "RoomMemberPayload": self._room_member_payload,
        }
        mapping: dict[str, Handler] = {}
        for rpc in UNARY_RPCS:
            request, response = message_classes(rpc)
            func = simulated.get(rpc) or functools.partial(_empty_answer, response)
            mapping[f"/wechaty.Puppet/{rpc}"] = Handler(
                self._unary(rpc, func), Cardinality.UNARY_UNARY, request, response
            )
        for rpc in UNARY_STREAM_RPCS:
            request, response = message_classes(rpc)
            handler = self._event if rpc == "Event" else self._empty_stream
            mapping[f"/wechaty.Puppet/{rpc}"] = Handler(
                handler, Cardinality.UNARY_STREAM, request, response
            )
        for rpc in STREAM_UNARY_RPCS:
            request, response = message_classes(rpc)
            mapping[f"/wechaty.Puppet/{rpc}"] = Handler(
                self._drain(response), Cardinality.STREAM_UNARY, request, response
            )
        return mapping

    # -- plumbing -------------------------------------------------------------

    def _unary(self, rpc: str, func: Callable[[Any], Any]) -> Callable[[Stream], Awaitable[None]]:
        async def handle(stream: Stream) -> None:
            request = await stream.recv_message()
            await self.gw.wait_thawed()
            if rpc == "MessageSendText":
                await self.gw.wait_send_allowed()
            self.gw.calls.append(rpc)
            await stream.send_message(func(request))

        return handle

    async def _event(self, stream: Stream) -> None:
        await stream.recv_message()
        await self.gw.wait_thawed()
        queue = self.gw.open_event_stream()
        try:
            while True:
                item = await queue.get()
                if item is None:  # end_streams(): finish the call cleanly
                    return
                await self.gw.wait_thawed()
                await stream.send_message(item)
        finally:
            self.gw.close_event_stream(queue)

    async def _empty_stream(self, stream: Stream) -> None:
        await stream.recv_message()

    def _drain(self, response: type) -> Callable[[Stream], Awaitable[None]]:
        async def handle(stream: Stream) -> None:
            async for _ in stream:
                pass
            await stream.send_message(response())

        return handle

    # -- simulated RPCs -------------------------------------------------------

    def _start(self, _: Any) -> pb.StartResponse:
        self.gw.login()
        return pb.StartResponse()

    def _stop(self, _: Any) -> pb.StopResponse:
        self.gw.logged_in = False
        return pb.StopResponse()

    def _logout(self, _: Any) -> pb.LogoutResponse:
        self.gw.logout()
        return pb.LogoutResponse()

    def _ding(self, request: pb.DingRequest) -> pb.DingResponse:
        self.gw.broadcast(event(EVENT_DONG, data=request.data or "dong"))
        return pb.DingResponse()

    def _contact_payload(self, request: pb.ContactPayloadRequest) -> pb.ContactPayloadResponse:
        contact = self.state.contact(request.id)
        if contact is None:
            raise _not_found(f"contact {request.id}")
        return pb.ContactPayloadResponse(
            id=contact.id, name=contact.name, alias=contact.alias, friend=contact.friend, type=1
        )

    def _contact_alias(self, request: pb.ContactAliasRequest) -> pb.ContactAliasResponse:
        contact = self.state.contact(request.id)
        if contact is None:
            raise _not_found(f"contact {request.id}")
        if request.alias is not None:
            contact.alias = request.alias
        return pb.ContactAliasResponse(alias=contact.alias)

    def _message_payload(self, request: pb.MessagePayloadRequest) -> pb.MessagePayloadResponse:
        msg = self.state.messages.get(request.id)
        if msg is None:
            raise _not_found(f"message {request.id}")
        return pb.MessagePayloadResponse(
            id=msg.id,
            text=msg.text,
            timestamp=msg.timestamp,
            type=msg.type,
            from_id=msg.from_id,
            room_id=msg.room_id,
            to_id=msg.to_id,
            mention_ids=list(msg.mention_ids),
        )

    def _message_send_text(self, request: pb.MessageSendTextRequest) -> pb.MessageSendTextResponse:
        message_id = self.gw.record_bot_text(
            request.conversation_id, request.text, tuple(request.mentonal_ids)
        )
        return pb.MessageSendTextResponse(id=message_id)

    def _room_payload(self, request: pb.RoomPayloadRequest) -> pb.RoomPayloadResponse:
        room = self.state.rooms.get(request.id)
        if room is None:
            raise _not_found(f"room {request.id}")
        return pb.RoomPayloadResponse(
            id=room.id, topic=room.topic, owner_id=room.owner_id, member_ids=list(room.member_ids)
        )

    def _room_member_list(self, request: pb.RoomMemberListRequest) -> pb.RoomMemberListResponse:
        room = self.state.rooms.get(request.id)
        if room is None:
            raise _not_found(f"room {request.id}")
        return pb.RoomMemberListResponse(member_ids=list(room.member_ids))

    def _room_member_payload(
        self, request: pb.RoomMemberPayloadRequest
    ) -> pb.RoomMemberPayloadResponse:
        room = self.state.rooms.get(request.id)
        contact = self.state.contact(request.member_id)
        if room is None or contact is None or contact.id not in room.member_ids:
            raise _not_found(f"member {request.member_id} of room {request.id}")
        return pb.RoomMemberPayloadResponse(
            id=contact.id, name=contact.name, room_alias=room.aliases.get(contact.id, "")
        )


class TrackingServer(Server):
    """A grpclib server that remembers its connections, so a crash can drop them."""

    def __init__(self, handlers: list[IServable]) -> None:
        super().__init__(handlers)
        self.protocols: weakref.WeakSet[H2Protocol] = weakref.WeakSet()

    def _protocol_factory(self) -> H2Protocol:  # grpclib 0.4's per-connection hook
        protocol = super()._protocol_factory()
        self.protocols.add(protocol)
        return protocol

    def drop_connections(self, reason: str) -> None:
        for protocol in list(self.protocols):
            processor = getattr(protocol, "processor", None)
            if processor is not None:
                processor.close(reason)
