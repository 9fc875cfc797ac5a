"""The app: one public entry point, ``await app.process(message)``; it decides, it does not send.

``process`` parses a chat message into a command and handles it; ``handle`` takes a command
already built (the web dashboard and the QR-code form) and returns what it queued.  Replies are
rendered into the outbox table; the runtime's ``Outbox`` sends them, and ``wake`` tells it there
is something new.

Each message is handled inside one storage transaction: the duplicate check, the handler's
effects, the audit events, the rendered replies (written to the outbox) and the record that
the message was processed all commit together or not at all.

Database faults (see ``storage.errors``): a transaction that fails is rolled back whole, so a
fault never leaves half an order behind.  When the database is locked or busy, the message is
retried a few times with a growing pause.  When it is full, read-only or unusable, the app
*stops*: it logs one CRITICAL line saying what to do, sets ``App.stopped`` (the fault) and
``App.stop_event``, and from then on ``process`` raises ``BotStopped`` for every message
without touching storage.  A runner must catch ``BotStopped`` (or wait on ``stop_event``),
stop reading messages and exit with an error, so no message is acknowledged that could not be
recorded; messages that arrive meanwhile are handled when WeChat delivers them again after the
restart, if it does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Awaitable, Callable

from bot.clock import Clock
from bot.config import Community, Config, looks_like_id
from bot.directory import Directory, RoomInfo
from bot.flood import FloodGuard, Verdict
from bot.instance import Scope, bot_account_key
from bot.logs import masked
from bot.processed import ProcessedIds
from bot.render import Renderer
from bot.transport import IncomingMessage
from handlers import (
    claim,
    dispatch,
    identity,
    intake,
    lifecycle,
    media,
    queries,
    registration,
    review,
)
from handlers.base import Context, Reply, Router
from handlers.classifier import Intake, LazyIntake
from handlers.commands import Command, Media
from handlers.parse import parse_message
from storage.errors import StorageBusy, StorageFault
from storage.models import Order, OutMessage
from storage.repository import BINDINGS_REV, Repository, Tx

log = logging.getLogger(__name__)

_UNLOADED = object()  # no bindings' revision seen yet

MAX_TEXT = 2000  # longer messages are cut before parsing; nobody types a need this long


def build_router() -> Router:
    """Handler modules, one per concern, in an explicit order."""
    router = Router()
    for module in (intake, review, dispatch, claim, lifecycle, queries, registration, identity, media):
        router.include(module.ROUTES)
    return router


class BotStopped(Exception):
    """``App.process`` cannot record messages any more (disk full, read-only or broken database).

    The runner must stop feeding messages and exit with an error; see the module docstring."""


@dataclass
class Handled:
    """What one command did: the messages it queued (rendered) and the orders it created."""

    messages: list[OutMessage] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)

    def texts_to(self, *, contact: str | None = None, room: str | None = None) -> list[str]:
        """The queued texts for one contact or one group."""
        return [m.text for m in self.messages
                if (contact is not None and m.contact == contact) or (room is not None and m.room == room)]


class App:
    """``scope``: what this instance serves (``bot.instance``; the runtime narrows it at login);
    ``intake``: the classifier of grid-group messages (default: trained when a message first needs it;
    the runtime passes one read from its disk cache);
    ``wake``: called after every message and job, to tell the outbox sender to look;
    ``busy_retries``/``busy_delay``: how often and after what first pause (doubled each time)
    a message is tried again while the database is locked; ``sleep`` waits between tries
    (asyncio.sleep: a lock is held by another process in real time, whatever the app's clock
    says; tests pass a fake)."""

    def __init__(self, config: Config, repo: Repository, clock: Clock, renderer: Renderer | None = None, *,
                 scope: Scope | None = None, wake: Callable[[], None] | None = None, busy_retries: int = 3,
                 busy_delay: float = 0.1, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 intake: Intake | None = None) -> None:
        self.config, self.repo, self.clock = config, repo, clock
        self.directory = Directory(config)
        self.renderer = renderer or Renderer(config.tz)
        self.router = build_router()
        self.scope = scope or Scope(config)
        self.wake = wake or (lambda: None)
        self.processed = ProcessedIds(repo)
        self._bindings_rev: object = _UNLOADED  # the bindings' revision (meta) when they were last loaded
        self.busy_retries, self.busy_delay, self.sleep = busy_retries, busy_delay, sleep
        self.flood = FloodGuard(config.flood.max_per_minute)
        self.intake: Intake | LazyIntake = intake or LazyIntake(config)
        self.stopped: StorageFault | None = None
        self.stop_event = asyncio.Event()

    async def setup(self) -> None:
        """Seed the configured worker roster (existing records are left as they are).

        Idempotent also when several instances start at once on one database: each seed is
        one ``INSERT ... ON CONFLICT DO NOTHING``."""
        now = self.clock.now().timestamp()
        async with self.repo.transaction() as tx:
            for community in self.config.communities:
                for seed in community.workers:
                    await tx.add_worker_if_absent({
                        "community": community.name, "name": seed.name, "wechat": seed.wechat,
                        "phone": seed.phone, "skills": seed.skills, "team": seed.team,
                        "pledge_date": seed.pledge_date, "status": "active", "registered_at": now,
                        "bound_at": now if looks_like_id(seed.wechat) else None,  # a nickname binds by code
                    })
            self.directory.identities.load(await tx.bindings())
            self._bindings_rev = await tx.get_meta(BINDINGS_REV)

    def _community_for(self, msg: IncomingMessage) -> Community | None:
        staff = self.directory.staff_community(msg.sender_id)
        if staff is not None:
            return staff
        if len(self.config.communities) == 1:
            return self.config.communities[0]
        return None

    async def _direct_community(self, tx: Tx, msg: IncomingMessage) -> Community | None:
        community = self._community_for(msg)
        if community is not None:
            return community
        for candidate in self.config.communities:
            worker = await tx.find_worker(candidate.name, wechat=msg.sender_id)
            if worker is not None and worker.bound:
                return candidate
        return None

    async def process(self, msg: IncomingMessage) -> None:
        """Handle one incoming message.  Never raises, except ``BotStopped`` once the database
        cannot record messages any more."""
        if self.stopped is not None:
            raise BotStopped(self.stopped.describe())
        verdict = self._flood_verdict(msg)  # counted once, however often the message is retried
        try:
            await self._retrying(msg, lambda: self._process(msg, verdict))
        finally:
            self.processed.remember(msg.id)
            self.wake()

    async def handle(self, command: Command, msg: IncomingMessage) -> Handled:
        """Handle ``command`` as if ``msg`` (a message the web made, with a unique id) had carried
        it: the same permissions, effects, audit and replies as a chat message.  Returns what it
        queued and created.  Never raises, except ``BotStopped``."""
        if self.stopped is not None:
            raise BotStopped(self.stopped.describe())
        result = Handled()
        room = self._room_of(msg)
        if room is not None and not self.scope.serves(room.community):
            log.info("not handling %s in %s: %s is served by another instance", msg.id, room.key, room.community.name)
            return result
        try:
            await self._retrying(msg, lambda: self._run(msg, command, result))
        finally:
            self.processed.remember(msg.id)
            self.wake()
        return result

    async def record_account(self, contact_id: str) -> None:
        """This instance's WeChat account (at login): other instances in the same groups ignore it."""
        async with self.repo.transaction() as tx:
            await tx.set_meta(bot_account_key(contact_id), self.scope.name)

    async def _retrying(self, msg: IncomingMessage, attempt_once: Callable[[], Awaitable[None]]) -> None:
        """Run ``attempt_once`` (the message's one transaction), again while the database is busy."""
        delay = self.busy_delay
        for attempt in range(1, self.busy_retries + 2):
            try:
                await attempt_once()
                return
            except StorageBusy as exc:
                if attempt > self.busy_retries:
                    log.error("%s; gave up on message %s after %d attempts, it was not handled",
                              exc.describe(), msg.id, attempt)
                    return
                log.warning("%s; trying message %s again in %.2f s (attempt %d of %d)",
                            exc.describe(), msg.id, delay, attempt + 1, self.busy_retries + 1)
                await self.sleep(delay)
                delay *= 2
            except StorageFault as exc:
                self._stop(exc, msg)
            except Exception:
                log.exception("failed to handle message %s from %s: %s", msg.id, msg.sender_id,
                              masked(msg.text)[:200])  # masked whole: a cut phone is no longer a phone
                await self._report_failure(msg)
                return

    def _stop(self, fault: StorageFault, msg: IncomingMessage) -> None:
        """Stop taking messages after a fatal storage fault; always raises ``BotStopped``."""
        if self.stopped is None:
            self.stopped = fault
            self.stop_event.set()
            log.critical("%s. linggong stops taking messages (message %s was not handled and nothing of it "
                         "was recorded)", fault.describe(), msg.id)
        raise BotStopped(fault.describe()) from fault

    def _flood_verdict(self, msg: IncomingMessage) -> Verdict:
        """Flood control (bot/flood.py) for senders other than staff and admins, in configured
        groups and direct chats."""
        if not msg.is_direct and self._room_of(msg) is None:
            return Verdict.OK
        if (self.directory.staff_community(msg.sender_id) is not None
                or self.directory.is_admin(msg.sender_id)):
            return Verdict.OK
        return self.flood.check(msg.sender_id, self.clock.now().timestamp())

    def _room_of(self, msg: IncomingMessage) -> RoomInfo | None:
        return None if msg.is_direct else self.directory.room(msg.room_id, msg.room_topic)

    async def _process(self, msg: IncomingMessage, verdict: Verdict) -> None:
        room = self._room_of(msg)
        if not msg.is_direct:
            if room is None:
                log.debug("ignoring message in unconfigured room %s", msg.room_topic or msg.room_id)
                return
            if not self.scope.serves(room.community):
                log.debug("ignoring message in %s: %s is served by another instance", room.key, room.community.name)
                return
        if verdict is not Verdict.OK:
            await self._ignore_flooded(msg, room, announce=verdict is Verdict.FLOOD)
            return
        command = (Media(msg.media) if msg.media
                   else parse_message(msg.text[:MAX_TEXT], self.config.categories, msg.quote, self.intake))
        if command is not None:
            await self._run(msg, command, Handled())

    async def _run(self, msg: IncomingMessage, command: Command, result: Handled) -> None:
        """The message's one transaction: checks, the handler's effects, replies, processed mark."""
        room = self._room_of(msg)
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            # one statement: marks the message processed and reads the bindings' revision; None
            # when it was processed before, or comes from another instance's WeChat account in the
            # same group (its messages are the bot's own)
            gate = await tx.begin_message(msg.id, now.timestamp(), bot_account_key(msg.sender_id))
            if gate is None:
                log.info("message %s ignored: handled before, or sent by another instance's account", msg.id)
                return
            if gate.bindings_rev != self._bindings_rev:
                # someone was bound or unbound (by another instance, too) since they were loaded
                self.directory.identities.load(await tx.bindings())
                self._bindings_rev = gate.bindings_rev
            community = room.community if room else await self._direct_community(tx, msg)
            ctx = Context(msg, tx, self.config, self.directory, now, room, community,
                          reachable=self.scope.contacts or frozenset())
            await self.router.handle(ctx, command)
            result.messages = await self.enqueue(tx, ctx.replies, now, community)
            result.orders = list(ctx.created)

    async def _ignore_flooded(self, msg: IncomingMessage, room: RoomInfo | None, *, announce: bool) -> None:
        """Record a muted sender's message as processed without handling it; the first one of a
        flood window also tells the sender and the staff."""
        now = self.clock.now()
        limit = self.config.flood.max_per_minute
        async with self.repo.transaction() as tx:
            if await tx.is_processed(msg.id):
                return
            if announce:
                community = room.community if room else await self._direct_community(tx, msg)
                log.warning("flood: %s sent more than %d messages within a minute; their messages are ignored "
                            "for a while", masked(msg.sender_id), limit)
                await self.enqueue(tx, self._flood_replies(msg, room, community), now, community)
                await tx.add_event(None, community.name if community else "", now.timestamp(), msg.sender_name,
                                   "flood", f"more than {limit} messages within a minute from {msg.sender_id}")
            await tx.mark_processed(msg.id, now.timestamp())

    def _flood_replies(self, msg: IncomingMessage, room: RoomInfo | None, community: Community | None) -> list[Reply]:
        """One notice to the sender where they wrote; one alert to the staff: the grid group's staff
        in their grid group, else the community's admins (or all its staff) in the market group,
        else (a direct chat from someone of no known community) the bot's admins directly."""
        limit = self.config.flood.max_per_minute
        notice = (Reply("flood_notice", {"limit": limit}, room=room.key, mentions=(msg.sender_id,)) if room
                  else Reply("flood_notice", {"limit": limit}, contact=msg.sender_id))
        data = {"name": msg.sender_name[:40], "limit": limit, "where": room.key if room else None}
        if room is not None and room.grid is not None:
            staff = tuple(self.directory.staff_ids(room.community, room.grid.name))
            return [notice, Reply("flood_alert", data, room=room.key, mentions=staff)]
        if community is not None:
            staff = tuple(self.directory.community_admin_ids(community) or self.directory.staff_ids(community))
            return [notice, Reply("flood_alert", data, room=community.market_group, mentions=staff)]
        return [notice, *(Reply("flood_alert", data, contact=admin) for admin in self.directory.admin_ids())]

    async def _report_failure(self, msg: IncomingMessage) -> None:
        """Tell the sender something went wrong, and never handle this message again."""
        try:
            now = self.clock.now()
            async with self.repo.transaction() as tx:
                if await tx.is_processed(msg.id):
                    return
                room = self._room_of(msg)
                reply = (Reply("error", {}, room=room.key, mentions=(msg.sender_id,)) if room
                         else Reply("error", {}, contact=msg.sender_id))
                await self.enqueue(tx, [reply], now, None)
                await tx.mark_processed(msg.id, now.timestamp())
        except StorageFault as exc:
            if exc.fatal:
                self._stop(exc, msg)
            log.error("could not record the failure of message %s: %s", msg.id, exc.describe())
        except Exception:
            log.exception("could not record the failure of message %s", msg.id)

    def render(self, reply: Reply) -> OutMessage:
        out = OutMessage(
            text=self.renderer.render(reply.template, reply.data), room=reply.room, contact=reply.contact,
            mentions=reply.mentions, coalesce_key=reply.coalesce_key,
        )
        if reply.notice is not None:  # the count of the rest is filled in when it is sent ("{n}")
            out.mention_cap, out.max_notices = reply.notice.mentions, reply.notice.messages
            out.more_text = self.renderer.render(reply.notice.more, {**reply.data, "n": "{n}"})
        return out

    async def enqueue(self, tx: Tx, replies: list[Reply], now: datetime,
                      community: Community | None, *, bulk: bool = False) -> list[OutMessage]:
        """Render ``replies`` into the outbox (in ``tx``); returns the rendered messages.  ``bulk``:
        a job's messages, sent after the replies to people's messages."""
        queued = []
        for reply in replies:
            out = self.render(reply)
            out.bulk = bulk
            if reply.fallback is not None:
                fb = self.render(reply.fallback)
                out.fallback = {"room": fb.room, "contact": fb.contact, "text": fb.text,
                                "mentions": list(fb.mentions), "community": community.name if community else "",
                                "order_no": reply.fallback.data.get("no")}
            await tx.enqueue(out, now.timestamp())
            queued.append(out)
        return queued
