"""Plain data rows shared by every backend."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any


def _floats(data: dict[str, Any], names: tuple[str, ...]) -> None:
    """Times are float seconds whatever the driver hands back (SQLite's RETURNING gives the
    value before REAL affinity, so an int written comes back as an int)."""
    for name in names:
        if data.get(name) is not None:
            data[name] = float(data[name])


@dataclass
class Worker:
    id: int
    community: str
    name: str
    wechat: str
    phone: str
    skills: tuple[str, ...]
    team: str | None
    pledge_date: str | None
    status: str
    registered_at: float
    bound_at: float | None = None  # when ``wechat`` became a proven contact id; None: a roster nickname

    @property
    def bound(self) -> bool:
        return self.bound_at is not None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Worker:
        data = dict(row)
        data["skills"] = tuple(json.loads(data["skills"] or "[]"))
        _floats(data, ("registered_at", "bound_at"))
        return cls(**data)


ORDER_FLOATS = ("created_at", "dispatched_at", "taken_at", "done_at", "cancelled_at", "rated_at", "escalated_at",
                "stale_reminded_at", "followup_sent_at", "assigned_at")


@dataclass
class Order:
    id: int
    community: str
    no: int
    grid: str
    origin_room: str | None
    source: str
    status: str
    category: str | None
    raw_text: str
    need_text: str
    phones: tuple[str, ...]
    address: str | None
    coarse_address: str | None
    time_wish: str | None
    budget: str | None
    reward: str | None
    note: str | None
    resident_id: str
    resident_name: str
    posted_by: str | None
    dispatcher: str | None
    taker_id: int | None
    created_at: float
    dispatched_at: float | None
    taken_at: float | None
    done_at: float | None
    cancelled_at: float | None
    cancel_reason: str | None
    rating: int | None
    rated_at: float | None
    escalation_level: int = 0
    escalated_at: float | None = None
    stale_reminded_at: float | None = None
    followup_sent_at: float | None = None
    assigned_at: float | None = None  # staff assigned it (指派) to its taker: no claim, no time-to-claim
    taker: Worker | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Order:
        names = {f.name for f in fields(cls)} - {"taker"}
        data = {k: v for k, v in row.items() if k in names}
        data["phones"] = tuple(json.loads(data["phones"] or "[]"))
        _floats(data, ORDER_FLOATS)
        return cls(**data)

    @property
    def assigned(self) -> bool:
        """True if staff assigned the order to its taker (指派), False if the taker claimed it (接N)
        or nobody has it."""
        return self.assigned_at is not None

    @property
    def claim_seconds(self) -> float | None:
        """Seconds from dispatch to the claim in the market group; None when nobody claimed it,
        also when staff assigned it (an assignment is no claim: never a 0-second one)."""
        return claim_seconds(self.taken_at, self.dispatched_at, self.assigned_at)


def claim_seconds(taken_at: float | None, dispatched_at: float | None, assigned_at: float | None) -> float | None:
    """``Order.claim_seconds`` from the three columns (the reports compute it from rows)."""
    if taken_at is None or dispatched_at is None or assigned_at is not None:
        return None
    return max(0.0, taken_at - dispatched_at)


@dataclass
class Event:
    id: int
    order_id: int | None
    community: str
    at: float
    actor: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Conversations:
    """Groups (configured group keys) and contacts (wechat ids or names): e.g. what one WeChat
    account can reach, or the conversations an outbox sender must leave alone for now."""

    rooms: frozenset[str] = frozenset()
    contacts: frozenset[str] = frozenset()


@dataclass
class OutMessage:
    """A rendered message waiting in (or taken from) the outbox."""

    text: str
    room: str | None = None
    contact: str | None = None
    mentions: tuple[str, ...] = ()
    coalesce_key: str | None = None
    fallback: dict[str, Any] | None = None  # where to go when a direct message fails
    id: int | None = None
    attempts: int = 0
    created_at: float = 0.0
    # a notice many may join (coalesce_key): at most mention_cap @-mentions, the rest counted by
    # more_text ("{n}": how many); at most max_notices messages of that key ever (enqueue only)
    mention_cap: int | None = None
    more_text: str | None = None
    max_notices: int | None = None
    sending_since: float | None = None  # claimed to be sent, since then (the in-doubt marker)
    bulk: bool = False  # a job's message (a report, a reminder): sent after the replies to people

    def to_send(self) -> tuple[str, tuple[str, ...]]:
        """The text and @-mentions that go out: capped, with the line that counts the rest."""
        if self.mention_cap is None or len(self.mentions) <= self.mention_cap:
            return self.text, tuple(self.mentions)
        more = (self.more_text or "").replace("{n}", str(len(self.mentions) - self.mention_cap))
        return (f"{self.text}\n{more}" if more else self.text), tuple(self.mentions[:self.mention_cap])
