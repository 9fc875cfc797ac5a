"""What every handler gets (a Context) and gives back (Replies: a template name plus data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable

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
    _worker: Worker | None | bool = False

    @property
    def ts(self) -> float:
        return self.now.timestamp()

    @property
    def sender(self) -> str:
        return self.msg.sender_name

    @property
    def in_market(self) -> bool:
        return self.room is not None and self.room.kind == "market"

    @property
    def in_grid(self) -> bool:
        return self.room is not None and self.room.kind == "grid"

    def is_staff(self, community: Community | None = None) -> bool:
        community = community or self.community
        if community is None:
            return self.directory.is_admin(self.msg.sender_id, self.msg.sender_name)
        return self.directory.is_staff(community, self.msg.sender_id, self.msg.sender_name)

    async def worker(self) -> Worker | None:
        """The sender's worker record in this community (matched by wechat id, then by name)."""
        if self._worker is False:
            self._worker = None
            if self.community is not None:
                self._worker = await self.tx.find_worker(
                    self.community.name, wechat=self.msg.sender_id, name=self.msg.sender_name
                )
        return self._worker  # type: ignore[return-value]

    # replies --------------------------------------------------------------------------
    def reply(self, template: str, **data: Any) -> None:
        """Answer the sender where they spoke: @mention in a room, or a direct message."""
        if self.room is not None:
            self.replies.append(Reply(template, data, room=self.room.key, mentions=(self.msg.sender_id,)))
        else:
            self.replies.append(Reply(template, data, contact=self.msg.sender_id))

    def to_room(self, room: str, template: str, *, mentions: tuple[str, ...] = (),
                coalesce_key: str | None = None, **data: Any) -> None:
        self.replies.append(Reply(template, data, room=room, mentions=mentions, coalesce_key=coalesce_key))

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


Handler = Callable[[Context, Any], Awaitable[None]]


class Router:
    """Maps command types to handlers; modules are included in an explicit order."""

    def __init__(self) -> None:
        self.routes: dict[type, Handler] = {}

    def include(self, routes: dict[type, Handler]) -> None:
        for kind, handler in routes.items():
            if kind in self.routes:
                raise ValueError(f"{kind.__name__} is routed twice")
            self.routes[kind] = handler

    async def handle(self, ctx: Context, command: Any) -> None:
        handler = self.routes.get(type(command))
        if handler is not None:
            await handler(ctx, command)
