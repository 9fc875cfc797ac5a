"""The app: one public entry point, ``await app.process(message)``.

Each message is handled inside one storage transaction: the duplicate check, the handler's
effects, the audit events, the rendered replies (written to the outbox) and the record that
the message was processed all commit together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.clock import Clock
from bot.config import Community, Config
from bot.directory import Directory
from bot.instance import Scope, bot_account_key, process_id
from bot.logs import masked
from bot.outbox import Outbox
from bot.render import Renderer
from bot.transport import IncomingMessage, Transport
from handlers import claim, dispatch, intake, lifecycle, queries, registration
from handlers.base import Context, Reply, Router
from handlers.parse import parse_message
from storage.models import OutMessage
from storage.repository import Repository, Tx

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # longer messages are cut before parsing; nobody types a need this long


def build_router() -> Router:
    """Handler modules, one per concern, in an explicit order."""
    router = Router()
    for module in (intake, dispatch, claim, lifecycle, queries, registration):
        router.include(module.ROUTES)
    return router


class App:
    def __init__(self, config: Config, repo: Repository, clock: Clock, transport: Transport,
                 renderer: Renderer | None = None) -> None:
        self.config, self.repo, self.clock, self.transport = config, repo, clock, transport
        self.directory = Directory(config)
        self.renderer = renderer or Renderer(config.tz)
        self.router = build_router()
        self.scope = Scope(config)  # the runtime narrows it at login (bot/instance.py)
        self.outbox = Outbox(repo, transport, clock, config.outbox, dm_fallback=config.wechat.dm_fallback,
                             instance=process_id(config.bot.instance))

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
                    })

    def _community_for(self, msg: IncomingMessage) -> Community | None:
        staff = self.directory.staff_community(msg.sender_id, msg.sender_name)
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
            if await tx.find_worker(candidate.name, wechat=msg.sender_id, name=msg.sender_name):
                return candidate
        return None

    async def process(self, msg: IncomingMessage) -> None:
        """Handle one incoming message; never raises."""
        try:
            await self._process(msg)
        except Exception:
            log.exception("failed to handle message %s from %s: %s", msg.id, msg.sender_id, masked(msg.text[:200]))
            await self._report_failure(msg)
        self.outbox.wake()

    async def _process(self, msg: IncomingMessage) -> None:
        room = None
        if not msg.is_direct:
            room = self.directory.room(msg.room_id, msg.room_topic)
            if room is None:
                log.debug("ignoring message in unconfigured room %s", msg.room_topic or msg.room_id)
                return
            if not self.scope.serves(room.community):
                log.debug("ignoring message in %s: %s is served by another instance", room.key, room.community.name)
                return
        text = msg.text[:MAX_TEXT]
        command = parse_message(text, self.config.categories, msg.quote)
        if command is None:
            return
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            if await tx.get_meta(bot_account_key(msg.sender_id)) is not None:
                # another instance's WeChat account, in the same group: its messages are the bot's
                log.debug("ignoring message %s from bot account %s", msg.id, msg.sender_id)
                return
            if await tx.is_processed(msg.id):
                log.info("duplicate message %s ignored", msg.id)
                return
            community = room.community if room else await self._direct_community(tx, msg)
            ctx = Context(msg, tx, self.config, self.directory, now, room, community)
            await self.router.handle(ctx, command)
            await self.enqueue(tx, ctx.replies, now, community)
            await tx.mark_processed(msg.id, now.timestamp())

    async def _report_failure(self, msg: IncomingMessage) -> None:
        """Tell the sender something went wrong, and never handle this message again."""
        try:
            now = self.clock.now()
            async with self.repo.transaction() as tx:
                if await tx.is_processed(msg.id):
                    return
                room = self.directory.room(msg.room_id, msg.room_topic)
                reply = (Reply("error", {}, room=room.key, mentions=(msg.sender_id,)) if room
                         else Reply("error", {}, contact=msg.sender_id))
                await self.enqueue(tx, [reply], now, None)
                await tx.mark_processed(msg.id, now.timestamp())
        except Exception:
            log.exception("could not record the failure of message %s", msg.id)

    def render(self, reply: Reply) -> OutMessage:
        return OutMessage(
            text=self.renderer.render(reply.template, reply.data), room=reply.room, contact=reply.contact,
            mentions=reply.mentions, coalesce_key=reply.coalesce_key,
        )

    async def enqueue(self, tx: Tx, replies: list[Reply], now: datetime, community: Community | None) -> None:
        for reply in replies:
            out = self.render(reply)
            if reply.fallback is not None:
                fb = self.render(reply.fallback)
                out.fallback = {"room": fb.room, "contact": fb.contact, "text": fb.text,
                                "mentions": list(fb.mentions), "community": community.name if community else "",
                                "order_no": reply.fallback.data.get("no")}
            await tx.enqueue(out, now.timestamp())
