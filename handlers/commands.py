"""The data a parser returns: one dataclass per command form.

Parsing never touches storage or sends anything; handlers receive these values.
Order numbers are plain ints (``#0012`` -> 12).  ``Malformed`` marks a message that
clearly tried to be a command but is not of a valid form; ``usage`` names the
template key of the form the user should have typed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    """Details extracted from a resident's need (an intake message)."""

    text: str  # the need text, with any 发单/【需求】 marker removed
    category: str | None = None
    phones: tuple[str, ...] = ()
    address: str | None = None  # the full address as written, e.g. 阳光小区3栋2单元501室
    coarse_address: str | None = None  # 小区 + 楼栋 only, e.g. 阳光小区3栋
    time_wish: str | None = None  # e.g. 明天上午
    budget: str | None = None  # e.g. 200元, 面议


@dataclass(frozen=True)
class PostNeed:
    """An explicit (发单/【需求】/求助：) or implicit need (the intake classifier's judgement).

    ``review``: the classifier was not sure, so the order waits for the grid's staff (待确认);
    ``second``: the same message asks for a second service (another category), a second order."""

    need: Need
    explicit: bool
    review: bool = False
    second: Need | None = None


@dataclass(frozen=True)
class ProxyPost:
    """Staff posting on behalf of a resident who phoned in: ``代发单 <text>``."""

    need: Need


@dataclass(frozen=True)
class Bind:
    """``绑定 123456`` (direct message): the sender's WeChat account is the person the code was made for."""

    code: str


@dataclass(frozen=True)
class Unbind:
    """``解绑 杨先媚`` (admins): forget a person's or worker's contact id; it loses every right at once."""

    name: str


@dataclass(frozen=True)
class Confirm:
    """``确认12 [类别]``: staff confirm a 待确认 order is a need (optionally of another category)."""

    no: int
    category: str | None = None


@dataclass(frozen=True)
class Dismiss:
    """``不是12``: staff say a 待确认 order is not a need; it is closed without a word to the group."""

    no: int


@dataclass(frozen=True)
class Dispatch:
    """``派单 12 [报酬100元] [备注 自带工具]``."""

    no: int
    reward: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Assign:
    """``指派 12 @熊师傅`` (worker named by mention or by name)."""

    no: int
    worker: str  # name as typed, without the @
    worker_id: int | None = None  # the dashboard names the worker by record


@dataclass(frozen=True)
class Redispatch:
    """``改派 12``."""

    no: int


@dataclass(frozen=True)
class Cancel:
    """``取消 12 [原因]``."""

    no: int
    reason: str | None = None


@dataclass(frozen=True)
class Claim:
    """``接12`` and its variants; ``no`` is None for a bare ``接``/``接单``/``我接``."""

    no: int | None


@dataclass(frozen=True)
class Complete:
    """``完成12`` / ``12完成`` / ``已完成12``."""

    no: int


@dataclass(frozen=True)
class Release:
    """``放弃12`` / ``退单12``."""

    no: int


@dataclass(frozen=True)
class Rate:
    """``满意12`` (score 5), ``不满意12`` (score 1), ``评价12 4``."""

    no: int
    score: int
    satisfied: bool


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Show:
    """``查12`` / ``订单12``."""

    no: int


@dataclass(frozen=True)
class OpenOrders:
    """``待接单``."""


@dataclass(frozen=True)
class MyOrders:
    """``我的订单``."""


@dataclass(frozen=True)
class Tally:
    """``今日统计``."""


@dataclass(frozen=True)
class Ranking:
    """``接单王`` / ``排行`` [今日/本周/本月/今年]; period is day|week|month|year."""

    period: str = "month"


@dataclass(frozen=True)
class Register:
    """``登记 熊明祥 13800000000 水电维修 搬家配送 [团队 水电一队]``."""

    name: str
    phone: str
    skills: tuple[str, ...] = ()
    team: str | None = None


@dataclass(frozen=True)
class Approve:
    """``通过 熊明祥``."""

    name: str
    worker_id: int | None = None  # the dashboard names the worker by record


@dataclass(frozen=True)
class Suspend:
    """``停用 熊明祥``."""

    name: str
    worker_id: int | None = None  # the dashboard names the worker by record


@dataclass(frozen=True)
class Media:
    """A voice note or picture (``kind`` "voice" or "image"), which the bot cannot read."""

    kind: str


@dataclass(frozen=True)
class Malformed:
    """A message that tried to be a command and failed.

    ``command`` is the command word (e.g. 派单), ``usage`` the template key that explains
    the right form (one of the keys of ``USAGE`` below), ``detail`` an optional fragment
    (e.g. the offending token).
    """

    command: str
    usage: str
    detail: str | None = None


# The usage keys a ``Malformed`` may name; templates/usage.txt has one entry per key.
# "post" is the explicit intake (发单/【需求】/求助：) sent with no need text.
USAGE_KEYS = frozenset({
    "dispatch", "assign", "redispatch", "cancel", "claim", "complete", "release", "rate",
    "show", "register", "approve", "suspend", "proxy", "post", "confirm", "dismiss", "bind", "unbind",
})

Command = (
    PostNeed | ProxyPost | Bind | Unbind | Confirm | Dismiss | Dispatch | Assign | Redispatch | Cancel | Claim | Complete | Release
    | Rate | Help | Show | OpenOrders | MyOrders | Tally | Ranking | Register | Approve | Suspend
    | Media | Malformed
)
