"""WeChat through python-wechaty 0.10.7 and a puppet-service gateway.

This is the only module that imports ``wechaty``.  It turns wechaty messages into
``IncomingMessage`` for the app, implements the ``Transport`` port for replies, and
keeps the connection alive itself, because wechaty's own recovery is unreliable:
after a gateway crash it sleeps a fixed 60 s and never fires ``login`` again, a
cleanly closed event stream makes ``Wechaty.start()`` return silently, and nothing
notices a half-open connection.

Design, per connection (a *session*): a TCP check, a fresh ``PuppetService`` and
``Wechaty``, the puppet's event stream in a task, a worker that handles login and
messages in arrival order, and a watchdog that dings the gateway and ends the
session when it falls silent.  When a session ends for any reason the bot waits a
bounded exponential backoff and starts a new one, which logs in and resolves the
configured groups again.

We subscribe to the puppet's events ourselves instead of installing wechaty's event
bridge: the bridge's login handler starts wechaty's plugin manager (an APScheduler
with a sqlite ``job.db`` and a check that port 5000 is free, failing the login when
it is taken) and never re-fires after a reconnect.  Without it the plugin manager
is never started; as a second guard it gets ``127.0.0.1:0`` and an in-memory
scheduler.  ``CACHE_DIR`` is pointed under the data directory before the import,
because wechaty creates that directory (default ``./.wechaty``) at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import warnings
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from bot.gateway.ext import FindSentRequest, FindSentStub
from bot.quote import split_quote, strip_leading_mention
from bot.transport import IncomingMessage, NotConnected, SendError
from bot.wechaty_support import (
    Backoff,
    ReadyInfo,
    RecentIds,
    Timings,
    message_time,
    resolve_room_keys,
    split_endpoint,
)

ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"
DEFAULT_ENDPOINT = "127.0.0.1:8788"
DEFAULT_TOKEN = "linggong-local"
AT_GAP = "\u2005"  # what WeChat puts after an @mention
PERMANENT_STATUSES = frozenset(
    {
        Status.NOT_FOUND,
        Status.FAILED_PRECONDITION,
        Status.PERMISSION_DENIED,
        Status.INVALID_ARGUMENT,
        Status.UNIMPLEMENTED,
    }
)
PUPPET_EVENTS = (
    "scan",
    "dong",
    "message",
    "heartbeat",
    "error",
    "friendship",
    "room-join",
    "room-invite",
    "room-leave",
    "room-topic",
    "ready",
    "login",
    "logout",
)

AppProcess = Callable[[IncomingMessage], Awaitable[None]]
OnReady = Callable[[ReadyInfo], Any]
GroupExpected = Callable[[str, frozenset[str]], bool]  # (group key, keys found) -> is its absence an error?


# -- compatibility shim -----------------------------------------------------------


@dataclass(frozen=True)
class WechatyModules:
    """The few wechaty names the adapter uses, imported once through the shim."""

    Wechaty: Any
    WechatyOptions: Any
    PuppetService: Any
    PuppetOptions: Any
    MessageType: Any
    AsyncIOScheduler: Any
    version: str


def load_wechaty(cache_dir: str | None = None) -> WechatyModules:
    """Apply the compatibility shim, then import wechaty (idempotent).

    Why a shim: python-wechaty 0.10.7 (the last release) does not import on Python 3.11+.
    Its ``WechatyOptions`` dataclass has a ``PuppetOptions()`` default, and 3.11 rejects
    unhashable dataclass defaults ("mutable default ... use default_factory").  Giving
    ``PuppetOptions`` identity hashing lets the class be defined; the shared default
    instance is never used, because the adapter always passes its own options.  The
    other breakages are handled by pins, not code: ``pyee<9`` (``AsyncIOEventEmitter``),
    ``urllib3<2`` (``get_host``) and, on 3.13, ``standard-telnetlib`` (wechaty and
    puppet-service import the removed ``telnetlib``).
    """
    if cache_dir and "CACHE_DIR" not in os.environ:
        os.makedirs(cache_dir, exist_ok=True)
        os.environ["CACHE_DIR"] = cache_dir  # wechaty makes this dir at import (default ./.wechaty)
    # wechaty's loggers print to stderr on their own (propagate=False); keep them to warnings.
    os.environ.setdefault("WECHATY_LOG", "warn")
    try:
        from wechaty_puppet import MessageType, PuppetOptions

        if PuppetOptions.__hash__ is None:
            PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign]
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        with (
            warnings.catch_warnings()
        ):  # telnetlib is deprecated (3.11, 3.12) or a backport (3.13+)
            warnings.filterwarnings("ignore", ".*telnetlib", DeprecationWarning)
            from wechaty import VERSION, Wechaty, WechatyOptions
            from wechaty_puppet_service import PuppetService
    except ImportError as exc:
        raise ImportError(
            f"cannot import wechaty ({exc}); it needs wechaty==0.10.7 with pyee<9, urllib3<2"
            " and, on Python 3.13+, standard-telnetlib"
        ) from exc
    # PuppetService logs the endpoint and token at WARNING on every connection.
    logging.getLogger("PuppetService").setLevel(logging.ERROR)
    return WechatyModules(
        Wechaty,
        WechatyOptions,
        PuppetService,
        PuppetOptions,
        MessageType,
        AsyncIOScheduler,
        str(VERSION),
    )


def describe(exc: BaseException) -> str:
    if isinstance(exc, GRPCError):
        return f"{exc.status.name}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def send_error(exc: BaseException) -> SendError:
    """Map a failure during a send to SendError; only definite refusals are permanent."""
    if isinstance(exc, SendError):
        return exc
    permanent = isinstance(exc, GRPCError) and exc.status in PERMANENT_STATUSES
    return SendError(describe(exc), permanent=permanent)


# -- the transport ----------------------------------------------------------------


class WechatyTransport:
    """The ``Transport`` port over a :class:`WechatyBot`'s current connection.

    It can be created before the bot (the app usually needs it first); the bot attaches
    itself.  A send waits up to ``Timings.send_ready_wait`` for a logged-in connection.
    """

    def __init__(self) -> None:
        self._bot: WechatyBot | None = None

    def attach(self, bot: WechatyBot) -> None:
        self._bot = bot

    async def send_room(self, room: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        session = await self._session()
        try:
            await session.send_room(room, text, tuple(mentions))
        except Exception as exc:
            raise send_error(exc) from exc

    async def send_direct(self, contact: str, text: str) -> None:
        session = await self._session()
        try:
            await session.send_direct(contact, text)
        except Exception as exc:
            raise send_error(exc) from exc

    async def find_sent(self, room: str | None, contact: str | None, text: str,
                        mentions: tuple[str, ...], since: float) -> bool | None:
        """Whether the gateway has this message, sent at or after ``since`` (``DeliveryCheck``):
        the local gateway can tell; real gateways cannot (None)."""
        session = await self._session()
        try:
            return await session.find_sent(room, contact, text, tuple(mentions), since)
        except Exception as exc:
            raise send_error(exc) from exc

    async def _session(self) -> _Session:
        if self._bot is None:
            raise NotConnected("the WeChat transport is not attached to a bot")
        return await self._bot.ready_session()


# -- the bot ----------------------------------------------------------------------


class WechatyBot:
    """Runs the wechaty client against a puppet-service gateway and feeds the app.

    ``groups`` are the configured group keys (topic or room id), resolved at every login.
    ``endpoint``/``token`` default to the ``WECHATY_PUPPET_SERVICE_*`` environment
    variables, then to ``127.0.0.1:8788`` / ``linggong-local`` (a token is always sent:
    the client uses it as the gRPC authority).
    """

    def __init__(
        self,
        app_process: AppProcess,
        groups: Iterable[str],
        endpoint: str | None = None,
        token: str | None = None,
        *,
        on_ready: OnReady | None = None,
        logger: logging.Logger | None = None,
        timings: Timings | None = None,
        data_dir: str = "data",
        tz: tzinfo | None = None,
        transport: WechatyTransport | None = None,
        check_friend: bool = True,
        on_disconnect: Callable[[str], Any] | None = None,
        known: Callable[[str], Awaitable[bool]] | None = None,
        group_expected: GroupExpected | None = None,
    ) -> None:
        """``on_ready(ReadyInfo)`` runs after every login once groups are resolved;
        ``on_disconnect(reason)`` when a logged-in connection is lost.  Both may be
        plain functions or coroutines; their errors are logged and ignored.  ``known(message_id)``
        says whether the app handled a message before (in an earlier process): such a message
        is dropped before its payload is fetched, so a re-delivered backlog costs no round trips.
        ``group_expected(key, found)`` says whether a configured group the account is not in
        is an error (default: always); with several instances, each account is in only the
        groups of the communities it serves."""
        self.app_process = app_process
        self.groups = list(dict.fromkeys(groups))
        self.group_expected = group_expected or (lambda key, found: True)
        self.endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
        self.token = token or os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
        self.on_ready = on_ready
        self.on_disconnect = on_disconnect
        self.log = logger or logging.getLogger("linggong.wechaty")
        self.timings = timings or Timings()
        self.tz: tzinfo = tz or UTC
        self.check_friend = check_friend
        self.known = known
        self.cache_dir = os.environ.get("CACHE_DIR") or os.path.join(data_dir, "wechaty")
        self.wx = load_wechaty(self.cache_dir)
        self.transport = transport or WechatyTransport()
        self.transport.attach(self)
        self.rooms: dict[str, str] = {}  # configured key -> room id, from the last resolution
        self.info: ReadyInfo | None = None
        self.login_count = 0
        self.seen = RecentIds()
        self.send_lock = asyncio.Lock()
        self.last_send = float("-inf")
        self._app_lock = asyncio.Lock()
        self._inflight: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._session: _Session | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` in the background and return its task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="wechaty-bot")
        return self._task

    async def stop(self) -> None:
        """Disconnect, let in-flight app calls finish (bounded), and end :meth:`run`."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=self.timings.shutdown_grace)
            for task in pending:
                task.cancel()

    async def wait_ready(self, timeout: float | None = None) -> ReadyInfo:
        await asyncio.wait_for(self._ready.wait(), timeout)
        assert self.info is not None
        return self.info

    async def run(self) -> None:
        """Connect, and reconnect whenever the connection ends, until :meth:`stop`."""
        backoff = Backoff(self.timings)
        number = 0
        self.log.info(
            "wechaty %s: gateway %s, groups %s", self.wx.version, self.endpoint, self.groups
        )
        while not self._stopping.is_set():
            number += 1
            session = _Session(self, number)
            self._session = session
            try:
                reason = await session.run()
            except Exception as exc:  # a bug here must not end the bot
                self.log.exception("connection %d crashed", number)
                reason = f"internal error: {describe(exc)}"
            self._session = None
            self._ready.clear()
            if self._stopping.is_set():
                break
            if session.reached_ready:
                backoff.reset()
            delay = backoff.next_delay()
            self.log.warning(
                "connection %d ended: %s; reconnecting in %.2fs", number, reason, delay
            )
            if session.reached_ready:
                await self._notify(self.on_disconnect, reason)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        self.log.info("wechaty bot stopped")

    async def ready_session(self) -> _Session:
        """The logged-in session, waiting up to ``send_ready_wait`` for one."""
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), self.timings.send_ready_wait)
            except TimeoutError:
                raise NotConnected("WeChat is not connected (reconnecting)") from None
        session = self._session
        if session is None:
            raise NotConnected("WeChat is not connected (reconnecting)")
        return session

    # -- called by sessions -----------------------------------------------------------

    def stopping(self) -> asyncio.Event:
        return self._stopping

    async def session_ready(self, info: ReadyInfo) -> None:
        self.login_count += 1
        info = replace(info, login_count=self.login_count)
        self.info = info
        self._ready.set()
        await self._notify(self.on_ready, info)

    async def _notify(self, callback: Callable[[Any], Any] | None, arg: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(arg)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self.log.exception("callback %r failed", callback)

    def session_lost(self) -> None:
        self._ready.clear()

    async def dispatch(self, msg: IncomingMessage) -> None:
        """Hand ``msg`` to the app, one at a time, shielded from connection loss."""
        task = asyncio.create_task(self._call_app(msg), name=f"app-{msg.id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        await asyncio.shield(task)

    async def _call_app(self, msg: IncomingMessage) -> None:
        async with self._app_lock:
            try:
                await self.app_process(msg)
            except Exception:
                self.log.exception("app failed to process message %s", msg.id)


# -- one connection ---------------------------------------------------------------


class _Session:
    """One connection to the gateway: from the TCP check to the end of its event stream."""

    def __init__(self, bot: WechatyBot, number: int) -> None:
        self.bot = bot
        self.number = number
        self.log = bot.log
        self.timings = bot.timings
        self.wechaty: Any = None
        self.puppet: Any = None
        self.self_id = ""
        self.self_name = ""
        self.reached_ready = False
        self.closed = False
        self.inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
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
            self.log.info("connection %d: connecting to %s", self.number, self.bot.endpoint)
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
        host, port = split_endpoint(self.bot.endpoint)
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), self.timings.connect_timeout
        )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _build(self) -> None:
        wx = self.bot.wx
        options = wx.PuppetOptions(token=self.bot.token, end_point=self.bot.endpoint)
        self.puppet = wx.PuppetService(options)
        self.wechaty = wx.Wechaty(
            wx.WechatyOptions(
                puppet=self.puppet,
                puppet_options=options,
                token=self.bot.token,
                endpoint=self.bot.endpoint,
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
            self.inbox.put_nowait(("message", payload.message_id))
        elif name in ("login", "logout"):
            self.inbox.put_nowait((name, payload.contact_id))
        elif name in ("room-topic", "room-join", "room-leave"):
            self.inbox.put_nowait(("rooms", name))
        elif name == "scan":
            self.log.warning(
                "connection %d: the account needs a QR scan (status %s): %s",
                self.number,
                getattr(payload, "status", "?"),
                getattr(payload, "qrcode", ""),
            )
        elif name == "error":
            self.log.warning("connection %d: gateway error: %s", self.number, payload)

    async def _stream(self) -> None:
        try:
            # Wechaty.start() minus its error handling (which sleeps 60 s, swallows
            # errors, or stops the event loop): Stop, Start, then the event stream.
            await self.puppet.start()
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
        while True:
            kind, value = await self.inbox.get()
            try:
                if kind == "message":
                    await self._handle_message(value)
                elif kind == "login":
                    await self._handle_login(value)
                elif kind == "logout":
                    self.bot.session_lost()
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
            if self.bot.check_friend and not payload.friend:
                continue
            keys.update(k for k in (payload.id, payload.name, payload.alias) if k)
        self.log.info(
            "connection %d: %d contacts listed in %.2fs",
            self.number,
            len(ids),
            self.loop.time() - started,
        )
        return frozenset(keys)

    # -- incoming messages ----------------------------------------------------------------

    async def _handle_message(self, message_id: str) -> None:
        if message_id in self.bot.seen:
            self.log.debug("duplicate delivery of message %s ignored", message_id)
            return
        if self.bot.known is not None and await self.bot.known(message_id):
            self.bot.seen.add(message_id)
            self.log.debug("message %s was handled before; re-delivery ignored", message_id)
            return
        msg = await asyncio.wait_for(self._to_incoming(message_id), 3 * self.timings.rpc_timeout)
        self.bot.seen.add(message_id)
        if msg is not None:
            await self.bot.dispatch(msg)

    async def _to_incoming(self, message_id: str) -> IncomingMessage | None:
        message = self.wechaty.Message.load(message_id)
        await message.ready()
        payload = message.payload
        if payload.type != self.bot.wx.MessageType.MESSAGE_TYPE_TEXT:
            self.log.debug("ignoring non-text message %s (%s)", message_id, payload.type)
            return None
        if not payload.from_id or payload.from_id == self.self_id:
            self.log.debug("ignoring the bot's own message %s", message_id)
            return None
        talker = message.talker()
        sender_name = talker.name or payload.from_id
        room = message.room()
        quote, text = split_quote(payload.text or "")
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
        fallback = datetime.now(self.bot.tz)
        return IncomingMessage(
            id=message_id,
            sender_id=payload.from_id,
            sender_name=sender_name,
            text=strip_leading_mention(text, bot_names).strip(),
            at=message_time(payload.timestamp, self.bot.tz, fallback),
            room_id=room_id,
            room_topic=topic,
            mentions=mentions,
            quote=quote,
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

    # -- sending ----------------------------------------------------------------------------
    # Sends call the puppet rather than room.say()/contact.say(): those re-load the sent
    # message through MessagePayload afterwards, and when that fails (puppets that return
    # no message id) a delivered message looks failed, the app retries, and the group
    # sees it twice.  The steps are otherwise the same: an "@name" prefix per mention
    # (the group alias when set, as WeChat shows it), then MessageSendText.

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
        if self.bot.check_friend and not contact.friend:
            raise SendError(f"{key} is not a friend of the bot", permanent=True)
        await self._send_text(contact.id, text, [])

    async def _contact_target(self, key: str) -> Any:
        contact = await self._contact(key)
        if contact is None:
            contact = await self._contact_by_name(key)
        if contact is None:
            raise SendError(f"contact {key!r} not found", permanent=True)
        return contact

    async def find_sent(self, room: str | None, contact: str | None, text: str,
                        mentions: tuple[str, ...], since: float) -> bool | None:
        """Ask the gateway whether it has this message (the local gateway's FindSent, see
        bot/gateway/ext.py); None when the gateway does not answer that question."""
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

    async def _contact_by_name(self, name: str) -> Any:
        limit = asyncio.Semaphore(8)

        async def load(contact_id: str) -> Any:
            async with limit:
                return await self._contact(contact_id)

        ids = await self._rpc(self.puppet.contact_list())
        for contact in await asyncio.gather(*(load(i) for i in ids)):
            if contact is not None and name in (contact.name, contact.alias):
                return contact
        return None

    async def _send_text(self, conversation_id: str, text: str, mention_ids: list[str]) -> None:
        async with self.bot.send_lock:
            wait = self.bot.last_send + self.timings.send_interval - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self._rpc(
                    self.puppet.message_send_text(
                        conversation_id=conversation_id,
                        message=text,
                        mention_ids=mention_ids or None,
                    )
                )
            finally:
                self.bot.last_send = self.loop.time()
