"""The local puppet-service gateway: a grpclib server on loopback that simulates WeChat.

Tests and (later) a web simulator drive it: inject messages as any contact, watch what
the bot sends, change the world (friends, members, topics) and break the connection
(crash, clean stream end, freeze) to exercise the bot's recovery.

It is one servicer of the puppet-service protocol (about 420 lines): its RPCs share the
event stream and the world, so they stay together.

Message events are delivered at least once, like a real account's message backlog: a
message that arrives while no event stream is open waits for the next one, and the
messages a stream carried are delivered again when that stream ends (the client died,
disconnected or the gateway crashed), because the protocol has no acknowledgement and
the client may not have handled them.  Clients de-duplicate by message id (the bot does,
in its database), so re-delivery is harmless and nothing sent to a dying bot is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from bot.clock import Clock, SystemClock
from bot.gateway.ext import GatewayExtension
from bot.gateway.service import (
    EVENT_HEARTBEAT,
    EVENT_LOGIN,
    EVENT_LOGOUT,
    EVENT_MESSAGE,
    EVENT_READY,
    EVENT_ROOM_TOPIC,
    PuppetHandlers,
    TrackingServer,
    event,
)
from bot.gateway.world import MSG_TEXT, Contact, Refused, SentRecord, World, WorldState
from bot.wechat.delivery import body_of

DEFAULT_PORT = 8788
REPLAY_LIMIT = 10_000  # message events kept per stream (and waiting for one) for re-delivery


class Gateway:
    """A simulated WeChat account behind the wechaty puppet-service protocol."""

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        heartbeat_interval: float | None = None,
        echo_self: bool = True,
        find_sent_rpc: bool = True,
        redeliver: bool = True,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.state = WorldState(world)
        self.host = host
        self._port = port
        self.heartbeat_interval = heartbeat_interval
        self.echo_self = (
            echo_self  # deliver the bot's own sends back as MESSAGE events, as WeChat does
        )
        # answer the FindSent extension (bot/gateway/ext.py); False behaves like a real gateway
        self.find_sent_rpc = find_sent_rpc
        # re-deliver what a vanished stream carried; False behaves like the official gateway,
        # which delivers each event once (the bot's intake journal must then recover it)
        self.redeliver = redeliver
        self.clock: Clock = clock or SystemClock(UTC)
        self.log = logger or logging.getLogger("linggong.gateway")
        self.sent: list[SentRecord] = []
        self.calls: list[str] = []  # unary RPC names served, in order
        self.logged_in = False
        self.streams_opened = 0
        self._streams: set[asyncio.Queue[object]] = set()
        # message events each open stream carried (re-delivered when it ends), and those
        # waiting for a stream: see the module docstring
        self._carried: dict[asyncio.Queue[object], deque[object]] = {}
        self._backlog: deque[object] = deque(maxlen=REPLAY_LIMIT)
        self.redelivered = 0  # message events delivered again after their stream ended
        self.dropped = 0  # events a vanished stream carried, not re-delivered (redeliver=False)
        # (message id, seconds it had been on its way when its stream ended), for those events
        self.dropped_events: list[tuple[str, float]] = []
        self._delivered_at: dict[int, float] = {}
        self._sent_subscribers: set[asyncio.Queue[SentRecord]] = set()
        self._changed = asyncio.Event()
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._sends_open = asyncio.Event()
        self._sends_open.set()
        self.held_sends = 0  # MessageSendText calls waiting in hold_sends()
        self._server: TrackingServer | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; later restarts reuse it)."""
        if self._server is not None:
            raise RuntimeError("gateway already running")
        # proto must be IPPROTO_TCP (not 0): grpclib only sets TCP_NODELAY on such sockets,
        # and without it every call waits ~40 ms for a delayed ACK.
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self._port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        handlers: list[Any] = [PuppetHandlers(self)]
        if self.find_sent_rpc:
            handlers.append(GatewayExtension(self))
        server = TrackingServer(handlers)
        await server.start(sock=sock)
        self._server = server
        if self.heartbeat_interval:
            self._heartbeat = asyncio.create_task(self._heartbeats(self.heartbeat_interval))
        self.log.info("gateway listening on %s", self.endpoint)

    async def stop(self) -> None:
        """Shut down cleanly: end event streams, then close the server."""
        self.end_streams()
        await asyncio.sleep(0)
        await self._close("gateway stopped")

    async def crash(self) -> None:
        """Die abruptly: drop every connection without ending calls, stop listening."""
        if self._server is not None:
            self._server.drop_connections("gateway crashed")
        self.logged_in = False
        await self._close("gateway crashed")

    async def restart(self) -> None:
        """Come back on the same port after :meth:`crash` or :meth:`stop`."""
        if self._server is not None:
            await self.crash()
        await self.start()

    async def _close(self, why: str) -> None:
        server, self._server = self._server, None
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        for queue in list(self._streams):
            queue.put_nowait(None)
        if server is None:
            return
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
        self.log.info("%s (port %s)", why, self._port)

    def freeze(self) -> None:
        """Simulate a half-open connection: accept calls but answer nothing, send no events."""
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    async def wait_thawed(self) -> None:
        await self._thawed.wait()

    def hold_sends(self) -> None:
        """Keep every MessageSendText call waiting (not yet accepted) until :meth:`release_sends`;
        everything else answers as usual.  A held send whose client dies is never delivered."""
        self._sends_open.clear()

    def release_sends(self) -> None:
        self._sends_open.set()

    async def wait_send_allowed(self) -> None:
        if self._sends_open.is_set():
            return
        self.held_sends += 1
        self._pulse()
        try:
            await self._sends_open.wait()
        finally:
            self.held_sends -= 1
            self._pulse()

    async def wait_for_held_sends(self, count: int = 1, *, timeout: float = 5.0) -> None:
        """Wait until ``count`` sends are held by :meth:`hold_sends`."""
        async with asyncio.timeout(timeout):
            while self.held_sends < count:
                await self._changed.wait()

    def end_streams(self) -> None:
        """Finish every open event stream cleanly (gRPC status OK), keeping the server up."""
        for queue in list(self._streams):
            queue.put_nowait(None)

    async def _heartbeats(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.broadcast(event(EVENT_HEARTBEAT, data="heartbeat"))

    # -- event streams (used by the handlers) -----------------------------------

    def open_event_stream(self) -> asyncio.Queue[object]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._streams.add(queue)
        self._carried[queue] = deque(maxlen=REPLAY_LIMIT)
        if self.logged_in:
            queue.put_nowait(event(EVENT_LOGIN, contactId=self.state.bot_id))
            queue.put_nowait(event(EVENT_READY, data="ready"))
            self._deliver_backlog()
        self.streams_opened += 1
        self._pulse()
        return queue

    def close_event_stream(self, queue: asyncio.Queue[object]) -> None:
        self._streams.discard(queue)
        carried = self._carried.pop(queue, ())
        if carried and not self.redeliver:
            self.dropped += len(carried)
            now = time.monotonic()
            for item in carried:
                at = self._delivered_at.pop(id(item), now)
                message_id = json.loads(getattr(item, "payload", "") or "{}").get("messageId", "")
                self.dropped_events.append((message_id, now - at))
        elif carried:
            # The client may not have handled these (it may have died with them unread, or
            # before its handler committed): deliver them again, after login, to the next stream.
            self.redelivered += len(carried)
            self._backlog = deque([*carried, *self._backlog], maxlen=REPLAY_LIMIT)
            if self.logged_in and self._streams:
                self._deliver_backlog()
        self._pulse()

    def _deliver_message(self, item: object) -> None:
        """A message event: to every open stream if logged in, else into the backlog."""
        if self.logged_in and self._streams:
            for queue in list(self._streams):
                queue.put_nowait(item)
                self._carried[queue].append(item)
            if not self.redeliver:
                if len(self._delivered_at) > 2 * REPLAY_LIMIT:  # streams that never end: forget
                    self._delivered_at.clear()
                self._delivered_at[id(item)] = time.monotonic()
        else:
            self._backlog.append(item)

    def _deliver_backlog(self) -> None:
        backlog, self._backlog = list(self._backlog), deque(maxlen=REPLAY_LIMIT)
        for item in backlog:
            self._deliver_message(item)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def broadcast(self, item: object) -> None:
        for queue in list(self._streams):
            queue.put_nowait(item)

    def login(self) -> None:
        self.logged_in = True
        self.broadcast(event(EVENT_LOGIN, contactId=self.state.bot_id))
        self.broadcast(event(EVENT_READY, data="ready"))
        if self._streams:
            self._deliver_backlog()

    def logout(self) -> None:
        self.logged_in = False
        self.broadcast(event(EVENT_LOGOUT, contactId=self.state.bot_id, data="logout"))

    def relogin(self) -> None:
        """The account logs out and back in on the same connection."""
        self.logout()
        self.login()

    # -- the world --------------------------------------------------------------

    def add_contact(self, contact: Contact) -> None:
        self.state.add_contact(contact)

    def set_friend(self, contact_id: str, friend: bool) -> None:
        """A non-friend cannot receive direct messages (MessageSendText fails)."""
        self.state.set_friend(contact_id, friend)

    def add_member(self, room_id: str, contact_id: str, alias: str = "") -> None:
        self.state.add_member(room_id, contact_id, alias)

    def rename_room(self, room_id: str, topic: str, changer_id: str | None = None) -> None:
        old = self.state.rename_room(room_id, topic)
        self.broadcast(
            event(
                EVENT_ROOM_TOPIC,
                roomId=room_id,
                newTopic=topic,
                oldTopic=old,
                changerId=changer_id or self.state.bot_id,
                timestamp=self._timestamp(),
            )
        )

    async def inject_text(
        self,
        from_id: str,
        text: str,
        room_id: str | None = None,
        mention_ids: Iterable[str] = (),
        msg_id: str | None = None,
    ) -> str:
        """Deliver a text message from ``from_id``; reusing ``msg_id`` is a duplicate delivery."""
        return await self.inject_message(from_id, text, room_id, mention_ids, msg_id)

    async def inject_message(
        self,
        from_id: str,
        text: str,
        room_id: str | None = None,
        mention_ids: Iterable[str] = (),
        msg_id: str | None = None,
        msg_type: int = MSG_TEXT,
    ) -> str:
        """Deliver any message type (e.g. ``MSG_IMAGE``); see :meth:`inject_text`."""
        msg_id = self.state.store_incoming(
            from_id, text, room_id, tuple(mention_ids), msg_id, msg_type, self._timestamp()
        )
        self._deliver_message(event(EVENT_MESSAGE, messageId=msg_id))
        await asyncio.sleep(0)
        return msg_id

    def record_bot_text(self, conversation_id: str, text: str, mention_ids: tuple[str, ...]) -> str:
        """Handle MessageSendText: check the target, store, record and echo the message."""
        try:
            message = self.state.store_bot_text(
                conversation_id, text, mention_ids, self._timestamp()
            )
        except Refused as refused:
            raise GRPCError(Status[refused.code.upper()], refused.message) from None
        record = SentRecord(
            conversation_id=conversation_id,
            text=text,
            mention_ids=mention_ids,
            at=self.clock.now(),
            message_id=message.id,
            room_id=message.room_id or None,
            contact_id=message.to_id or None,
        )
        self.sent.append(record)
        for queue in list(self._sent_subscribers):
            queue.put_nowait(record)
        self._pulse()
        if self.echo_self:
            self.broadcast(event(EVENT_MESSAGE, messageId=message.id))
        return message.id

    def find_sent(
        self, conversation_id: str, text: str, mention_ids: tuple[str, ...], since: float
    ) -> SentRecord | None:
        """The last message the bot sent to ``conversation_id`` at or after ``since`` (seconds
        since the epoch) with these mentions and, after its @mention prefix, this text."""
        for record in reversed(self.sent):
            if record.at.timestamp() < since:
                break
            if (record.conversation_id, record.mention_ids) == (conversation_id, mention_ids) and (
                body_of(record.text) == text
            ):
                return record
        return None

    def _timestamp(self) -> int:
        return int(self.clock.now().timestamp())

    # -- watching ---------------------------------------------------------------

    def subscribe_sent(self) -> asyncio.Queue[SentRecord]:
        """A queue that receives every message the bot sends from now on."""
        queue: asyncio.Queue[SentRecord] = asyncio.Queue()
        self._sent_subscribers.add(queue)
        return queue

    def unsubscribe_sent(self, queue: asyncio.Queue[SentRecord]) -> None:
        self._sent_subscribers.discard(queue)

    async def wait_for_sent(
        self,
        predicate: Callable[[SentRecord], bool] | None = None,
        *,
        start: int = 0,
        timeout: float = 5.0,
    ) -> SentRecord:
        """The first record in ``sent[start:]`` matching ``predicate`` (waits up to ``timeout``)."""
        index = start
        async with asyncio.timeout(timeout):
            while True:
                while index < len(self.sent):
                    record = self.sent[index]
                    index += 1
                    if predicate is None or predicate(record):
                        return record
                await self._changed.wait()

    async def wait_for_streams(
        self, count: int = 1, *, opened: int = 0, timeout: float = 5.0
    ) -> None:
        """Wait until ``count`` event streams are open and more than ``opened`` were ever opened."""
        async with asyncio.timeout(timeout):
            while self.open_streams < count or self.streams_opened <= opened:
                await self._changed.wait()

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()


async def serve_forever(
    world: World, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: object
) -> None:
    """Run a gateway for ``world`` until cancelled (the CLI entry point)."""
    gateway = Gateway(world, host, port, **options)  # type: ignore[arg-type]
    await gateway.start()
    try:
        await asyncio.Event().wait()
    finally:
        await gateway.stop()
