"""The order statuses, the moves between them, and what a move back to the market resets.

``Status`` is a ``StrEnum``: its members are the strings stored in ``orders.status`` (and shown
by ``linggong orders --json``), so they compare equal to what the database hands back.

    pending_review ──确认──▶ posted (or dispatched with [dispatch].auto; 派单/指派 also work)
      └──不是──▶ dismissed

    posted ──派单──▶ dispatched ──接/指派──▶ taken ──完成──▶ done
      │  └──────────指派────────────────────▲   │
      │             ▲──────放弃/改派──────────┘   │
      └──取消──▶ cancelled ◀──取消(dispatched, taken by staff)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING_REVIEW = "pending_review"  # an uncertain need (待确认): the grid's staff confirm or dismiss it
    POSTED = "posted"  # created from a need, not yet in the market group
    DISPATCHED = "dispatched"  # in the market group, waiting for a taker
    TAKEN = "taken"  # a worker has it
    DONE = "done"
    CANCELLED = "cancelled"
    DISMISSED = "dismissed"  # staff said 不是: not a need, never counted as one


OPEN = (Status.POSTED, Status.DISPATCHED)  # no taker yet
ACTIVE = (Status.POSTED, Status.DISPATCHED, Status.TAKEN)  # not finished

NOT_NEEDS = (Status.PENDING_REVIEW, Status.DISMISSED)  # not (yet) counted as needs in tallies

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING_REVIEW: frozenset({Status.POSTED, Status.DISPATCHED, Status.TAKEN, Status.DISMISSED,
                                      Status.CANCELLED}),
    Status.POSTED: frozenset({Status.DISPATCHED, Status.TAKEN, Status.CANCELLED}),
    Status.DISPATCHED: frozenset({Status.TAKEN, Status.DISPATCHED, Status.CANCELLED}),
    Status.TAKEN: frozenset({Status.DONE, Status.DISPATCHED, Status.CANCELLED}),
    Status.DONE: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.DISMISSED: frozenset(),
}


def allowed(source: str, target: str) -> bool:
    """Whether an order in ``source`` may move to ``target``."""
    return Status(target) in TRANSITIONS[Status(source)]


def back_to_market(at: float) -> dict[str, Any]:
    """The values of an order put back in the market group at ``at`` (放弃, 改派): no taker, a
    fresh dispatch time (no assignment: the next taker claims it or is assigned it anew), and the
    escalation and stale reminders start again."""
    return {"status": Status.DISPATCHED, "taker_id": None, "taken_at": None, "assigned_at": None, "dispatched_at": at,
            "escalation_level": 0, "escalated_at": None, "stale_reminded_at": None}
