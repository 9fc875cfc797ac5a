"""The order statuses, the moves between them, and what a move back to the market resets.

``Status`` is a ``StrEnum``: its members are the strings stored in ``orders.status`` (and shown
by ``linggong orders --json``), so they compare equal to what the database hands back.

    posted ──派单──▶ dispatched ──接/指派──▶ taken ──完成──▶ done
      │  └──────────指派────────────────────▲   │
      │             ▲──────放弃/改派──────────┘   │
      └──取消──▶ cancelled ◀──取消(dispatched, taken by staff)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Status(StrEnum):
    POSTED = "posted"  # created from a need, not yet in the market group
    DISPATCHED = "dispatched"  # in the market group, waiting for a taker
    TAKEN = "taken"  # a worker has it
    DONE = "done"
    CANCELLED = "cancelled"


OPEN = (Status.POSTED, Status.DISPATCHED)  # no taker yet
ACTIVE = (Status.POSTED, Status.DISPATCHED, Status.TAKEN)  # not finished

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.POSTED: frozenset({Status.DISPATCHED, Status.TAKEN, Status.CANCELLED}),
    Status.DISPATCHED: frozenset({Status.TAKEN, Status.DISPATCHED, Status.CANCELLED}),
    Status.TAKEN: frozenset({Status.DONE, Status.DISPATCHED, Status.CANCELLED}),
    Status.DONE: frozenset(),
    Status.CANCELLED: frozenset(),
}


def allowed(source: str, target: str) -> bool:
    """Whether an order in ``source`` may move to ``target``."""
    return Status(target) in TRANSITIONS[Status(source)]


def back_to_market(at: float) -> dict[str, Any]:
    """The values of an order put back in the market group at ``at`` (放弃, 改派): no taker, a
    fresh dispatch time, and the escalation and stale reminders start again."""
    return {"status": Status.DISPATCHED, "taker_id": None, "taken_at": None, "dispatched_at": at,
            "escalation_level": 0, "escalated_at": None, "stale_reminded_at": None}
