"""One connection to the gateway (a *session*): from the TCP check to the end of its event stream.

A session builds a fresh ``PuppetService`` and ``Wechaty``, runs the puppet's event stream in a
task, a worker that handles login and messages in arrival order, and a watchdog that dings the
gateway and ends the session when it falls silent.  It sees its bot only through
``SessionHost``; everything about how to connect is in the bot's ``Link``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from grpclib.exceptions import GRPCError

from bot.clock import Clock
from bot.transport import IncomingMessage
from bot.wechat.channel import Tls, attach, serve_events
from bot.wechat.receiving import Receiving
from bot.wechat.sending import Sending
from bot.wechat.shim import WechatyModules
from bot.wechat.support import ReadyInfo, Timings, resolve_room_keys, split_endpoint
from bot.wechat.transport import describe

BURST = 200  # message events taken together from the queue, at most

PUPPET_EVENTS = (
    "scan", "dong", "message", "heartbeat", "error", "friendship", "room-join", "room-invite", "room-leave",
    "room-topic", "ready", "login", "logout",
)


@dataclass(frozen=True)
class Link:
    """How to reach the gateway, the same for every session of one bot."""

    endpoint: str
    token: str
    wx: WechatyModules
    timings: Timings
    clock: Clock
    check_friend: bool  # direct messages only to friends (the local gateway's tests turn it off)
    log: logging.Logger
    tls: Tls | None = None  # None: plain HTTP/2 (the local gateway, python-wechaty's classic mode)


class SessionHost(Protocol):
    """What a session needs from its bot."""

    link: Link
    groups: list[str]  # configured group keys
    rooms: dict[str, str]  # configured key -> room id, from the last resolution (the session renews it)

    def group_expected(self, key: str, found: frozenset[str]) -> bool: ...
    def stopping(self) -> asyncio.Event: ...
    async def session_ready(self, info: ReadyInfo) -> None: ...
    def session_lost(self) -> None: ...
    def arrived(self, message_id: str) -> None: ...
    def account_event(self, kind: str, **data: Any) -> None: ...
    async def receive(self, message_ids: list[str], load: Callable[[str], Awaitable[IncomingMessage | None]],
                      *, recovering: bool = False) -> None: ...
    async def recover(self, load: Callable[[str], Awaitable[IncomingMessage | None]], *,
                      exclude: set[str]) -> None: ...


class Session(Receiving, Sending):
    """One connection to the gateway: from the TCP check to the end of its event stream."""

    def __init__(self, bot: SessionHost, number: int) -> None:
        self.bot = bot
        self.link = bot.link
        self.number = number
        self.log = bot.link.log
        self.timings = bot.link.timings
        self.wechaty: Any = None
        self.puppet: Any = None
        self.self_id = ""
        self.self_name = ""
        self.reached_ready = False
        self.closed = False
        self.inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.queued: set[str] = set()  # message ids waiting in the inbox (not recovered: handled anyway)
        self.loop = asyncio.get_running_loop()
        self.last_event = self.loop.time()
        self.dong_seen = False
        self.pools_at = 0.0
        self._bot_alias: dict[str, str] = {}
        self._ding: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self.end_reason = ""

    def end(self, reason: str) -> None:
        if not self._ended.is_set():
            self.end_reason = reason
            self._ended.set()

    async def run(self) -> str:
        """Connect and serve until the connection ends; return why it ended."""
        tasks: list[asyncio.Task[Any]] = []
        try:
            self.log.info("connection %d: connecting to %s", self.number, self.link.endpoint)
            await self._probe()
            await self._build()
            tasks = [
                asyncio.create_task(self._stream(), name=f"wechaty-stream-{self.number}"),
                asyncio.create_task(self._worker(), name=f"wechaty-worker-{self.number}"),
                asyncio.create_task(self._watchdog(), name=f"wechaty-watchdog-{self.number}"),
            ]
            waits = [
                asyncio.create_task(self._ended.wait()),
                asyncio.create_task(self.bot.stopping().wait()),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
            if not self._ended.is_set():
                self.end("stopped")
        except Exception as exc:
            self.end(f"cannot connect: {describe(exc)}")
        finally:
            await self._close(tasks)
        return self.end_reason

    async def _probe(self) -> None:
        # The client's own reachability check is a blocking telnet connect (up to 3 s
        # with the event loop stalled); check without blocking first.
        host, port = split_endpoint(self.link.endpoint)
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), self.timings.connect_timeout
        )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _build(self) -> None:
        wx = self.link.wx
        options = wx.PuppetOptions(token=self.link.token, end_point=self.link.endpoint)
        self.puppet = wx.PuppetService(options)
        attach(wx.PuppetStub, self.puppet, self.link.endpoint, self.link.token, self.link.tls)
        self.wechaty = wx.Wechaty(
            wx.WechatyOptions(
                puppet=self.puppet,
                puppet_options=options,
                token=self.link.token,
                endpoint=self.link.endpoint,
                host="127.0.0.1",
                port=0,
                scheduler=wx.AsyncIOScheduler(),
            )
        )
        await self.wechaty.init_puppet()  # binds Contact/Room/Message classes to this puppet
        self._renew_pools()
        for name in PUPPET_EVENTS:
            self.puppet.on(name, functools.partial(self._on_event, name))

    def _renew_pools(self) -> None:
        # wechaty caches Contact and Room objects, payloads included, in class-level dicts
        # shared by every Wechaty instance and never refreshed: a reconnect would reuse
        # objects bound to the dead puppet, and renamed contacts or groups would never be
        # seen.  Give this connection's classes their own pools and renew them regularly.
        for cls in (self.wechaty.Contact, self.wechaty.ContactSelf, self.wechaty.Room):
            cls._pool = {}
        self._bot_alias.clear()
        self.pools_at = self.loop.time()

    def _on_event(self, name: str, payload: Any = None) -> None:
        # Called synchronously from the puppet's stream loop: must not raise.
        if self.closed:
            return
        self.last_event = self.loop.time()
        if name == "dong":
            self.dong_seen = True
        elif name == "message":
            self.bot.arrived(payload.message_id)  # journaled before its payload is fetched
            self.queued.add(payload.message_id)
            self.inbox.put_nowait(("message", payload.message_id))
        elif name in ("login", "logout"):
            self.inbox.put_nowait((name, payload.contact_id))
        elif name in ("room-topic", "room-join", "room-leave"):
            self.inbox.put_nowait(("rooms", name))
        elif name == "scan":
            status = getattr(payload, "status", "?")
            qrcode = getattr(payload, "qrcode", "") or ""
            self.log.warning("connection %d: the account needs a QR scan (status %s): %s", self.number,
                             getattr(status, "name", status), qrcode)
            self.bot.account_event("scan", qrcode=qrcode, status=str(getattr(status, "name", status)))
        elif name == "error":
            self.log.warning("connection %d: gateway error: %s", self.number, payload)

    async def _stream(self) -> None:
        try:
            # Not Wechaty.start() (its error handling sleeps 60 s, swallows errors or stops
            # the event loop) nor PuppetService.start() (it sends Stop, which logs a real
            # account out): Start, then the event stream (bot/wechat/channel.py).
            await serve_events(self.puppet)
            self.end("the gateway closed the event stream")
        except Exception as exc:
            self.end(f"event stream failed: {describe(exc)}")

    async def _close(self, tasks: list[asyncio.Task[Any]]) -> None:
        self.closed = True
        self.bot.session_lost()
        if self._ding is not None:
            tasks.append(self._ding)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.timings.rpc_timeout)
        channel = getattr(self.puppet, "channel", None)
        if channel is not None:
            channel.close()
        if not self.inbox.empty():
            self.log.warning(
                "connection %d: dropped %d unhandled events", self.number, self.inbox.qsize()
            )

    # -- watchdog -----------------------------------------------------------------------

    async def _watchdog(self) -> None:
        t = self.timings
        tick = min(t.ding_interval, t.event_deadline / 10)  # check the deadline closely
        last_ding = self.loop.time()
        while True:
            await asyncio.sleep(tick)
            now = self.loop.time()
            silent = now - self.last_event
            if silent > t.event_deadline:
                self.end(f"no sign of life from the gateway for {silent:.1f}s")
                return
            connected = getattr(self.puppet, "channel", None) is not None
            idle = self._ding is None or self._ding.done()
            if connected and idle and now - last_ding >= t.ding_interval:
                last_ding = now
                self._ding = asyncio.create_task(self._send_ding())
            if self.loop.time() - self.pools_at > t.cache_ttl:
                self._renew_pools()

    async def _send_ding(self) -> None:
        try:
            await asyncio.wait_for(
                self.puppet.ding(f"linggong-{self.number}"), self.timings.rpc_timeout
            )
        except TimeoutError:
            self.log.warning("connection %d: ding timed out", self.number)
            return
        except GRPCError as exc:
            self.log.warning("connection %d: ding refused: %s", self.number, describe(exc))
            return
        except Exception as exc:
            self.end(f"ding failed: {describe(exc)}")
            return
        if not self.dong_seen:
            # Until the gateway has shown that it answers dings with dong events, a
            # successful ding call is the sign of life; after that only events count,
            # so a stuck event stream is noticed too.
            self.last_event = self.loop.time()

    # -- worker: login, messages, group changes, in arrival order -------------------------

    async def _worker(self) -> None:
        held: list[tuple[str, str]] = []
        while True:
            kind, value = held.pop(0) if held else await self.inbox.get()
            try:
                if kind == "message":
                    # A burst (a claim storm, a backlog after a reconnect) is taken together, so
                    # that the app sees it in WeChat-time order rather than arrival order.
                    burst = [value]
                    while not self.inbox.empty() and len(burst) < BURST:
                        item = self.inbox.get_nowait()
                        if item[0] != "message":
                            held.append(item)
                            break
                        burst.append(item[1])
                    self.queued.difference_update(burst)
                    await self.bot.receive(burst, self._to_incoming)
                elif kind == "login":
                    await self._handle_login(value)
                elif kind == "logout":
                    self.bot.session_lost()
                    self.bot.account_event("logout", contact_id=value)
                    self.log.warning(
                        "connection %d: %s logged out; waiting for login", self.number, value
                    )
                elif kind == "rooms" and self.self_id:
                    self._renew_pools()
                    await self._resolve_rooms(f"{value} event")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if kind == "login":
                    self.end(f"login failed: {describe(exc)}")
                    return
                self.log.warning(
                    "connection %d: cannot handle %s %s: %s",
                    self.number,
                    kind,
                    value,
                    describe(exc),
                )

    async def _rpc(self, awaitable: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(awaitable, self.timings.rpc_timeout)

    async def _handle_login(self, contact_id: str) -> None:
        self._renew_pools()
        me = self.wechaty.ContactSelf.load(contact_id)
        await self._rpc(me.ready())
        self.self_id, self.self_name = contact_id, me.name
        self.log.info(
            "connection %d: logged in as %s (%s)", self.number, self.self_name, contact_id
        )
        resolution = await self._resolve_rooms("login")
        contacts = await self._known_contacts()
        self.reached_ready = True
        await self.bot.session_ready(
            ReadyInfo(
                self.self_id,
                self.self_name,
                dict(self.bot.rooms),
                tuple(resolution.missing),
                0,
                contacts,
            )
        )
        self.log.info("connection %d: ready", self.number)
        # Messages received before a crash or a lost connection and not handled: now, in order.
        await self.bot.recover(self._to_incoming, exclude=self.queued)

    async def _resolve_rooms(self, why: str, extra: tuple[str, ...] = ()) -> Any:
        room_ids = await self._rpc(self.puppet.room_list())
        limit = asyncio.Semaphore(8)

        async def topic_of(room_id: str) -> tuple[str, str]:
            async with limit:
                room = self.wechaty.Room.load(room_id)
                await self._rpc(room.ready())
                return room_id, room.payload.topic

        results = await asyncio.gather(*(topic_of(r) for r in room_ids), return_exceptions=True)
        rooms = [r for r in results if isinstance(r, tuple)]
        for room_id, result in zip(room_ids, results, strict=True):
            if isinstance(result, BaseException):
                self.log.warning("cannot load room %s: %s", room_id, describe(result))
        keys = list(dict.fromkeys([*self.bot.groups, *extra]))
        resolution = resolve_room_keys(keys, rooms, self.bot.rooms)
        self.bot.rooms = resolution.mapping
        for note in resolution.notes:
            self.log.warning("%s", note)
        found = frozenset(resolution.mapping)
        missing = [key for key in resolution.missing if key in self.bot.groups]
        resolution.missing = [key for key in missing if self.bot.group_expected(key, found)]
        for key in missing:
            if key in resolution.missing:
                self.log.error(
                    "configured group %r not found among the %d groups this account is in",
                    key,
                    len(rooms),
                )
            else:
                self.log.info("not in group %r; this instance does not serve its community", key)
        self.log.info("groups resolved (%s): %s", why, resolution.mapping)
        return resolution

    async def _known_contacts(self) -> frozenset[str]:
        """Ids, names and remarks of the contacts this account can message (its friends).

        Read once per login; the outbox sends a direct message through an account that knows
        the contact.  A failure here is logged and leaves the set empty (such messages are
        then tried after ``[outbox].orphan_after``)."""
        started = self.loop.time()
        try:
            ids = await self._rpc(self.puppet.contact_list())
            limit = asyncio.Semaphore(16)

            async def load(contact_id: str) -> Any:
                async with limit:
                    return await self._contact(contact_id)

            payloads = await asyncio.gather(*(load(i) for i in ids), return_exceptions=True)
        except Exception as exc:
            self.log.warning("cannot list the account's contacts: %s", describe(exc))
            return frozenset()
        keys: set[str] = set()
        for payload in payloads:
            if isinstance(payload, BaseException) or payload is None:
                continue
            if self.link.check_friend and not payload.friend:
                continue
            keys.update(k for k in (payload.id, payload.name, payload.alias) if k)
        self.log.info(
            "connection %d: %d contacts listed in %.2fs",
            self.number,
            len(ids),
            self.loop.time() - started,
        )
        return frozenset(keys)


