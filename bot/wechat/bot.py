"""WeChat through python-wechaty 0.10.7 and a puppet-service gateway: the bot and its reconnect loop.

``bot.wechat`` is the only package that talks to wechaty (``shim`` imports it).  The bot turns
wechaty messages into ``IncomingMessage`` for the app (``session``), offers the ``Transport``
port for replies (``transport``), and keeps the connection alive itself, because wechaty's own recovery is unreliable:
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
scheduler.

Pacing is not done here: the outbox is the one pacer (``[outbox]`` and ``[wechat].send_interval``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import replace
from datetime import UTC
from typing import Any, Protocol

from bot.clock import Clock, SystemClock
from bot.journal import Journal
from bot.processed import ProcessedIds
from bot.transport import IncomingMessage, NotConnected
from bot.wechat.channel import Tls
from bot.wechat.session import Link, Session
from bot.wechat.shim import load_wechaty
from bot.wechat.support import Backoff, ReadyInfo, Timings
from bot.wechat.transport import WechatyTransport, describe

AppProcess = Callable[[IncomingMessage], Awaitable[None]]
OnReady = Callable[[ReadyInfo], Any]
GroupExpected = Callable[[str, frozenset[str]], bool]  # (group key, keys found) -> is its absence an error?


LOAD_CONCURRENCY = 8  # message payloads fetched at once


class Seen(Protocol):
    """The app's record of handled messages (``bot.app.ProcessedIds``): the one de-duplication."""

    async def known(self, message_id: str) -> bool: ...
    def remember(self, message_id: str) -> None: ...
    def __contains__(self, message_id: object) -> bool: ...


class WechatyBot:
    """Runs the wechaty client against a puppet-service gateway and feeds the app.

    ``groups`` are the configured group keys (topic or room id), resolved at every login.
    ``endpoint`` and ``token`` are given by the runtime (``[wechat]`` after the environment);
    a token is always sent: the client uses it as the gRPC authority.
    """

    def __init__(
        self,
        app_process: AppProcess,
        groups: Iterable[str],
        endpoint: str,
        token: str,
        *,
        on_ready: OnReady | None = None,
        logger: logging.Logger | None = None,
        timings: Timings | None = None,
        data_dir: str = "data",
        clock: Clock | None = None,
        check_friend: bool = True,
        on_disconnect: Callable[[str], Any] | None = None,
        seen: Seen | None = None,
        group_expected: GroupExpected | None = None,
        tls: Tls | None = None,
        journal: Journal | None = None,
        on_account: Callable[..., Any] | None = None,
    ) -> None:
        """``on_ready(ReadyInfo)`` runs after every login once groups are resolved;
        ``on_disconnect(reason)`` when a logged-in connection is lost.  Both may be
        plain functions or coroutines; their errors are logged and ignored.  ``seen`` says
        whether the app handled a message before (now or in an earlier process): such a message
        is dropped before its payload is fetched, so a re-delivered backlog costs no round trips.
        ``group_expected(key, found)`` says whether a configured group the account is not in
        is an error (default: always); with several instances, each account is in only the
        groups of the communities it serves."""
        self.app_process = app_process
        self.groups = list(dict.fromkeys(groups))
        self.group_expected = group_expected or (lambda key, found: True)
        self.on_ready = on_ready
        self.on_disconnect = on_disconnect
        # on_account(kind, **data): "scan" (qrcode, status), "logout" (contact_id), "ended"
        # (reason, logged_in) for the account's visible state (bot/account.py); must not block
        self.on_account = on_account
        self.log = logger or logging.getLogger("linggong.wechaty")
        self.timings = timings or Timings()
        # Without the app's record (tests of the adapter alone) the bot keeps its own, in memory.
        self._own_seen = seen is None
        self.seen: Seen = seen if seen is not None else ProcessedIds(None)
        self.journal = journal  # None: nothing survives a crash but what the gateway re-delivers
        self.cache_dir = os.environ.get("CACHE_DIR") or os.path.join(data_dir, "wechaty")
        self.wx = load_wechaty(self.cache_dir)
        self.link = Link(endpoint, token, self.wx, self.timings, clock or SystemClock(UTC), check_friend, self.log,
                         tls)
        self.transport = WechatyTransport(self)
        self.rooms: dict[str, str] = {}  # configured key -> room id, from the last resolution
        self.info: ReadyInfo | None = None
        self.login_count = 0
        self._app_lock = asyncio.Lock()
        self._inflight: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._session: Session | None = None
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
            "wechaty %s: gateway %s, groups %s", self.wx.version, self.link.endpoint, self.groups
        )
        while not self._stopping.is_set():
            number += 1
            session = Session(self, number)
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
            self.account_event("ended", reason=reason, logged_in=session.reached_ready)
            if session.reached_ready:
                await self._notify(self.on_disconnect, reason)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        self.log.info("wechaty bot stopped")

    async def ready_session(self) -> Session:
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

    def account_event(self, kind: str, **data: Any) -> None:
        if self.on_account is not None:
            try:
                self.on_account(kind, **data)
            except Exception:
                self.log.exception("account callback failed for %s", kind)

    def arrived(self, message_id: str) -> None:
        if self.journal is not None:
            self.journal.arrived(message_id)

    async def receive(self, message_ids: list[str], load: Callable[[str], Awaitable[IncomingMessage | None]],
                      *, recovering: bool = False) -> None:
        """Message events: those the app has not seen are journaled, loaded (``load``, a few at a
        time) and handed to the app in WeChat-time order (arrival order for equal times).

        A message that cannot be loaded stays in the journal for the next login, unless this is
        that recovery already (the gateway no longer has it: logged as lost)."""
        journal = self.journal
        fresh = []
        for message_id in dict.fromkeys(message_ids):
            if await self.seen.known(message_id):
                self.log.debug("message %s was handled before; re-delivery ignored", message_id)
            else:
                fresh.append(message_id)
        if journal is not None:
            journal.finished(m for m in message_ids if m not in fresh)
            await journal.durable(fresh)
        limit = asyncio.Semaphore(LOAD_CONCURRENCY)

        async def fetch(message_id: str) -> IncomingMessage | None:
            async with limit:
                return await asyncio.wait_for(load(message_id), 3 * self.timings.rpc_timeout)

        loaded = await asyncio.gather(*(fetch(m) for m in fresh), return_exceptions=True)
        messages: list[IncomingMessage] = []
        for message_id, result in zip(fresh, loaded, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                if recovering:
                    self.log.error("message %s, received before the restart, can no longer be read from the "
                                   "gateway (%s): it is lost", message_id, describe(result))
                    self._finish(message_id)
                else:
                    self.log.warning("cannot load message %s (%s); tried again at the next login",
                                     message_id, describe(result))
                continue
            if result is None:  # not for the app (the bot's own, a kind it ignores): never fetched again
                self.seen.remember(message_id)
                self._finish(message_id)
            else:
                messages.append(result)
        # A message recalled (撤回) before the bot got to it counts as never sent: a claim in a
        # backlog, or still in the journal after a crash, that its sender took back.
        recalls = [m for m in messages if m.media == "recall"]
        recalled = {m.quote for m in recalls}
        for msg in recalls + [m for m in messages if m.id in recalled]:
            if msg.media != "recall":
                self.log.info("message %s was recalled before it was handled; ignored", msg.id)
            self.seen.remember(msg.id)
            self._finish(msg.id)
        messages = [m for m in messages if m.media != "recall" and m.id not in recalled]
        for msg in sorted(messages, key=lambda m: m.at):
            await self.dispatch(msg)
            if self._own_seen:
                self.seen.remember(msg.id)
            if msg.id in self.seen:  # handled (or deliberately ignored) by the app
                self._finish(msg.id)

    def _finish(self, message_id: str) -> None:
        if self.journal is not None:
            self.journal.finished((message_id,))

    async def recover(self, load: Callable[[str], Awaitable[IncomingMessage | None]], *,
                      exclude: Collection[str] = ()) -> None:
        """Handle what was received (before a crash, or on a lost connection) and never handled;
        ``exclude``: ids the session has queued, handled in their turn."""
        if self.journal is None:
            return
        try:
            pending = [m for m in await self.journal.pending() if m not in exclude]
        except Exception:
            self.log.exception("cannot read the intake journal; unhandled messages wait for the next login")
            return
        if pending:
            self.log.warning("%d messages received earlier and not handled: handling them now", len(pending))
            await self.receive(pending, load, recovering=True)

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

