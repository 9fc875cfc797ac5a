"""Tallies and rankings computed from storage; the chat queries and the scheduled reports share them."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.repository import Tx

PERIODS = ("day", "week", "month", "year")


def period_bounds(now: datetime, period: str) -> tuple[datetime, datetime]:
    """[start, end) of the day/week (Monday first)/month/year containing ``now``, in its zone."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    if period == "year":
        start = day.replace(month=1, day=1)
        return start, start.replace(year=start.year + 1)
    raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class Tally:
    community: str
    start: float
    counts: dict[str, int]
    by_category: list[tuple[str, int]]
    by_grid: list[tuple[str, int]]
    median_claim: float | None
    slowest_claim: float | None
    unclaimed: list[dict[str, Any]]
    top_takers: list[tuple[str, int]]

    def as_data(self) -> dict[str, Any]:
        return self.__dict__.copy()


async def tally(tx: Tx, community: str, start: datetime, end: datetime, *, now: datetime,
                grid: str | None = None) -> Tally:
    s, e = start.timestamp(), end.timestamp()
    counts: dict[str, int] = {}
    for key, column in (("posted", "created_at"), ("dispatched", "dispatched_at"), ("taken", "taken_at"),
                        ("done", "done_at"), ("cancelled", "cancelled_at")):
        counts[key] = len(await tx.find_orders(community, grid=grid, time_column=column, start=s, end=e))
    posted = await tx.find_orders(community, grid=grid, time_column="created_at", start=s, end=e)
    taken = await tx.find_orders(community, grid=grid, time_column="taken_at", start=s, end=e)
    claims = [o.claim_seconds for o in taken if o.claim_seconds is not None]
    waiting = await tx.find_orders(community, grid=grid, statuses=("dispatched",))
    takers = Counter(o.taker.name for o in taken if o.taker is not None)
    return Tally(
        community=community, start=s, counts=counts,
        by_category=Counter(o.category for o in posted).most_common(),  # None: not recognised
        by_grid=Counter(o.grid for o in posted).most_common(),
        median_claim=_median(claims), slowest_claim=max(claims) if claims else None,
        unclaimed=[{"no": o.no, "age": now.timestamp() - (o.dispatched_at or o.created_at)} for o in waiting],
        top_takers=takers.most_common(5),
    )


def _confirmed(order) -> bool:
    """The resident confirmed (rated 3 or more), or the follow-up visit passed without a complaint."""
    if order.rating is not None:
        return order.rating >= 3
    return order.followup_sent_at is not None


@dataclass
class RankRow:
    rank: int
    name: str
    team: str | None
    done: int
    median_claim: float | None
    rating: float | None


async def ranking(tx: Tx, community: str, start: datetime, end: datetime, *, limit: int = 10,
                  confirmed_only: bool = False) -> list[RankRow]:
    """Completed orders per worker; ties by median time-to-claim, then by average rating."""
    done = await tx.find_orders(community, statuses=("done",), time_column="done_at",
                                start=start.timestamp(), end=end.timestamp())
    per: dict[int, list] = defaultdict(list)
    for order in done:
        if order.taker is None or order.taker.status == "suspended":
            continue
        if confirmed_only and not _confirmed(order):
            continue
        per[order.taker.id].append(order)
    rows = []
    for orders in per.values():
        worker = orders[0].taker
        claims = [o.claim_seconds for o in orders if o.claim_seconds is not None]
        ratings = [o.rating for o in orders if o.rating is not None]
        rows.append(RankRow(0, worker.name, worker.team, len(orders), _median(claims),
                            sum(ratings) / len(ratings) if ratings else None))
    rows.sort(key=lambda r: (-r.done, r.median_claim if r.median_claim is not None else float("inf"),
                             -(r.rating or 0), r.name))
    for i, row in enumerate(rows, 1):
        row.rank = i
    return rows[:limit]
