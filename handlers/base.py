"""What every handler gets (a Context) and gives back (Replies: a template name plus data), and the
routes: which handler acts on which command, where, and for whom.

Who may do what is declared on the route (``route(Dispatch, dispatch, who=STAFF, order=True)``)
and checked by the ``Router`` before the handler runs, so the authorisation matrix can be read
off ``ROUTES`` (tests/test_authz.py does).  Roles of the sender (``STAFF``, ``ACTIVE_WORKER``)
are checked before anything is loaded; roles towards an order (``POSTER``, ``TAKER``) once the
order named by the command is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Union

from bot.config import Community, Config
from bot.directory import Directory, RoomInfo
from bot.transport import IncomingMessage
from storage.models import Order, Worker
from storage.repository import Tx


@dataclass
class Reply:
    """One message to send: ``templates/<template>.txt`` rendered with ``data``.

    Exactly one of ``room`` (a configured group key) and ``contact`` (a contact id) is set.
    ``fallback`` is another Reply used when a direct message cannot be delivered.
    """

    template: str
    data: dict[str, Any]
    room: str | None = None
    contact: str | None = None
    mentions: tuple[str, ...] = ()
    coalesce_key: str | None = None
    fallback: "Reply | None" = None
    notice: "Notice | None" = None  # a notice many join (with coalesce_key): its caps


@dataclass(frozen=True)
class Notice:
    """Caps of a notice that many people join (the late claimers of an order): at most
    ``mentions`` @-mentions in one message, the rest counted by template ``more`` (given ``n``);
    at most ``messages`` such messages ever."""

    mentions: int
    messages: int
    more: str


@dataclass
class Context:
    """One incoming message being handled inside one storage transaction."""

    msg: IncomingMessage
    tx: Tx
    config: Config
    directory: Directory
    now: datetime
    room: RoomInfo | None
    community: Community | None
    replies: list[Reply] = field(default_factory=list)
    created: list[Order] = field(default_factory=list)  # orders this message created
    # contact ids the bot's account can message (its friends, listed at login): only they get
    # direct messages the bot could do without (the taker's full phone for a resident)
    reachable: frozenset[str] = field(default_factory=frozenset)
    _worker: Worker | None | bool = False

    @property
    def ts(self) -> float:
        return self.now.timestamp()

    @property
    def sender(self) -> str:
        """Who the sender is, for audit lines and replies: a configured person's name (bound to
        this contact), else the display name they chose (which grants nothing)."""
        return self.directory.identities.name_of(self.msg.sender_id) or self.msg.sender_name

    @property
    def in_market(self) -> bool:
        return self.room is not None and self.room.kind == "market"

    @property
    def in_grid(self) -> bool:
        return self.room is not None and self.room.kind == "grid"

    @property
    def sender_id(self) -> str:
        return self.msg.sender_id

    async def holds(self, roles: frozenset[str], order: Order | None = None) -> bool:
        """Whether the sender has one of ``roles`` here (towards ``order`` for ``POSTER``/``TAKER``).

        ``ANYONE`` always; ``STAFF``: staff of the context's community; ``ACTIVE_WORKER``: an
        approved worker of it; ``POSTER``: posted ``order`` themselves; ``TAKER``: has it.  Cheapest
        first: the worker record is looked up only when a worker role could decide."""
        if ANYONE in roles or (STAFF in roles and self.community is not None and self.is_staff()):
            return True
        if order is not None and POSTER in roles and order.resident_id == self.msg.sender_id \
                and order.source != "proxy":
            return True
        if ACTIVE_WORKER not in roles and (order is None or TAKER not in roles):
            return False
        worker = await self.worker()
        if worker is None:
            return False
        return ((ACTIVE_WORKER in roles and worker.status == "active")
                or (order is not None and TAKER in roles and order.taker_id == worker.id))

    def is_staff(self, community: Community | None = None) -> bool:
        community = community or self.community
        if community is None:
            return self.directory.is_admin(self.msg.sender_id)
        return self.directory.is_staff(community, self.msg.sender_id)

    async def worker(self) -> Worker | None:
        """The sender's worker record in this community: the one bound to the sender's contact id
        (never found by display name)."""
        if self._worker is False:
            self._worker = None
            if self.community is not None:
                found = await self.tx.find_worker(self.community.name, wechat=self.msg.sender_id)
                self._worker = found if found is not None and found.bound else None
        return self._worker  # type: ignore[return-value]

    # replies --------------------------------------------------------------------------
    def reply(self, template: str, **data: Any) -> None:
        """Answer the sender where they spoke: @mention in a room, or a direct message.  A QR-code
        resident has no WeChat contact to @: the reply names them instead (templates/_addressee.txt)."""
        if self.room is not None and self.msg.source == "qr":
            data |= {"addressee": "qr_named" if self.msg.sender_name else "qr", "resident": self.msg.sender_name}
            self.replies.append(Reply(template, data, room=self.room.key))
        elif self.room is not None:
            self.replies.append(Reply(template, data, room=self.room.key, mentions=(self.msg.sender_id,)))
        else:
            self.replies.append(Reply(template, data, contact=self.msg.sender_id))

    def to_room(self, room: str, template: str, *, mentions: tuple[str, ...] = (),
                coalesce_key: str | None = None, notice: Notice | None = None, **data: Any) -> None:
        self.replies.append(Reply(template, data, room=room, mentions=mentions, coalesce_key=coalesce_key,
                                  notice=notice))

    def to_contact(self, contact: str, template: str, *, fallback: Reply | None = None, **data: Any) -> None:
        self.replies.append(Reply(template, data, contact=contact, fallback=fallback))

    def market_room(self, community: Community | None = None) -> str:
        community = community or self.community
        assert community is not None
        return community.market_group

    def order_room(self, order: Order) -> str | None:
        """The grid group where the order came from (or its grid's first group)."""
        assert self.community is not None
        return order.origin_room or self.directory.grid_room(self.community, order.grid)

    async def audit(self, order: Order | None, kind: str, detail: str = "") -> None:
        community = order.community if order else (self.community.name if self.community else "")
        await self.tx.add_event(order.id if order else None, community, self.ts, self.sender, kind, detail)


# roles --------------------------------------------------------------------------------------
ANYONE = "anyone"
STAFF = "staff"  # grid staff of the community, its admins, the bot's admins
ACTIVE_WORKER = "active_worker"  # a registered, approved, not suspended worker of the community
POSTER = "poster"  # towards an order: the resident who posted it (not for an order staff posted)
TAKER = "taker"  # towards an order: the worker who has it
ORDER_ROLES = frozenset({POSTER, TAKER})

# where a command is accepted
ANYWHERE, GRID, MARKET = "any", "grid", "market"

Handler = Callable[..., Awaitable[None]]
Denial = Union[str, Callable[[Context], Awaitable[str]]]


@dataclass(frozen=True)
class Route:
    """One command's handler and its rules.

    - ``where``: ``GRID`` or ``MARKET`` groups only; elsewhere ``outside(command)`` names the
      refusal (None: the message is ignored, as chit-chat);
    - ``who``: the roles any one of which allows the command; otherwise the reply is the refusal
      ``denied`` (a reason, or a coroutine giving one);
    - ``community``: the sender's community must be known (else ``no_community``);
    - ``order``: the command's ``no`` names an order of the community, loaded for the handler
      (``handler(ctx, command, order)``), or refused as ``no_such_order``.
    """

    command: type
    handler: Handler
    where: str = ANYWHERE
    who: frozenset[str] = frozenset({ANYONE})
    community: bool = False
    order: bool = False
    denied: Denial = "staff_only"
    outside: Callable[[Any], str | None] = lambda command: None

    @property
    def order_roles(self) -> bool:
        """Whether permission depends on the order (checked after loading it)."""
        return bool(self.who & ORDER_ROLES)

    def in_place(self, ctx: Context) -> bool:
        return (self.where == ANYWHERE or (self.where == GRID and ctx.in_grid)
                or (self.where == MARKET and ctx.in_market))


def route(command: type, handler: Handler, *, who: str | tuple[str, ...] = ANYONE, **rules: Any) -> Route:
    return Route(command, handler, who=frozenset((who,) if isinstance(who, str) else who), **rules)


class Router:
    """Maps command types to routes; modules are included in an explicit order."""

    def __init__(self) -> None:
        self.routes: dict[type, Route] = {}

    def include(self, routes: list[Route]) -> None:
        for r in routes:
            if r.command in self.routes:
                raise ValueError(f"{r.command.__name__} is routed twice")
            self.routes[r.command] = r

    async def handle(self, ctx: Context, command: Any) -> None:
        r = self.routes.get(type(command))
        if r is None:
            return
        if not r.in_place(ctx):
            if (reason := r.outside(command)) is not None:
                ctx.reply("refuse", reason=reason)
            return
        if not r.order_roles and not await ctx.holds(r.who):
            await self._deny(ctx, r, None)
            return
        if (r.community or r.order) and ctx.community is None:
            ctx.reply("refuse", reason="no_community")
            return
        if not r.order:
            await r.handler(ctx, command)
            return
        order = await ctx.tx.get_order(ctx.community.name, command.no)  # type: ignore[union-attr]
        if order is None:
            ctx.reply("refuse", reason="no_such_order", no=command.no)
            return
        if r.order_roles and not await ctx.holds(r.who, order):
            await self._deny(ctx, r, order)
            return
        await r.handler(ctx, command, order)

    async def _deny(self, ctx: Context, r: Route, order: Order | None) -> None:
        reason = r.denied if isinstance(r.denied, str) else await r.denied(ctx)
        ctx.reply("refuse", reason=reason, **({"no": order.no} if order is not None else {}))
