"""The ``Transport`` port over the WeChat connection, and how send failures map to ``SendError``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from bot.transport import SendError

if TYPE_CHECKING:
    from bot.wechat.bot import WechatyBot
    from bot.wechat.session import Session

PERMANENT_STATUSES = frozenset(
    {
        Status.NOT_FOUND,
        Status.FAILED_PRECONDITION,
        Status.PERMISSION_DENIED,
        Status.INVALID_ARGUMENT,
        Status.UNIMPLEMENTED,
    }
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


class WechatyTransport:
    """The ``Transport`` port over a :class:`WechatyBot`'s current connection (``bot.transport``).

    A send waits up to ``Timings.send_ready_wait`` for a logged-in connection.
    """

    def __init__(self, bot: WechatyBot) -> None:
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

    async def _session(self) -> Session:
        return await self._bot.ready_session()

