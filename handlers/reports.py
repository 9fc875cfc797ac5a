"""Tallies and rankings computed from storage; the chat queries and the scheduled reports share them.

Times to claim, their medians and 接单王 count claims only: orders workers took with 接N in the
market group.  An order staff assigned (指派) has no claim time (it is not a 0-second claim: it
often waited longest) and is counted apart, as 指派.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.repository import Tx
from storage.status import Status

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
    median_claim: float | None  # of claims only
    slowest_claim: float | None
    unclaimed: list[dict[str, Any]]
    top_takers: list[tuple[str, int]]  # orders claimed (接N) per worker
    top_assigned: list[tuple[str, int]]  # orders staff assigned (指派) per worker

    def as_data(self) -> dict[str, Any]:
        return self.__dict__.copy()


async def tally(tx: Tx, community: str, start: datetime, end: datetime, *, now: datetime,
                grid: str | None = None) -> Tally:
    """The tally of [start, end): counted and grouped by the database (see the Tx report methods)."""
    s, e = start.timestamp(), end.timestamp()
    counts = await tx.tally_counts(community, s, e, grid=grid)
    taken = await tx.claim_durations(community, s, e, grid=grid)  # by order number
    claims = [seconds for _, seconds, assigned in taken if seconds is not None and not assigned]
    waiting = await tx.find_orders(community, grid=grid, statuses=(Status.DISPATCHED,), takers=False)
    takers = Counter(name for name, _, assigned in taken if name is not None and not assigned)
    assignees = Counter(name for name, _, assigned in taken if name is not None and assigned)
    return Tally(
        community=community, start=s, counts=counts,
        by_category=_most_common(await tx.tally_groups(community, "category", s, e, grid=grid)),  # None: not recognised
        by_grid=_most_common(await tx.tally_groups(community, "grid", s, e, grid=grid)),
        median_claim=_median(claims), slowest_claim=max(claims) if claims else None,
        unclaimed=[{"no": o.no, "age": now.timestamp() - (o.dispatched_at or o.created_at)} for o in waiting],
        top_takers=takers.most_common(5), top_assigned=assignees.most_common(5),
    )


def _most_common(groups: list[tuple[str | None, int, int]]) -> list[tuple[str | None, int]]:
    """Group counts, most first; ties in the order the groups first appear (by order number), as
    ``Counter(...).most_common()`` over the orders would give them."""
    return [(value, count) for value, count, _ in sorted(groups, key=lambda g: (-g[1], g[2]))]


@dataclass
class RankRow:
    rank: int
    name: str
    team: str | None
    done: int  # completed orders the worker claimed (接N)
    median_claim: float | None
    rating: float | None
    assigned: int = 0  # completed orders staff assigned (指派): shown, not ranked


async def ranking(tx: Tx, community: str, start: datetime, end: datetime, *, limit: int = 10,
                  confirmed_only: bool = False) -> list[RankRow]:
    """接单王: completed orders each worker claimed; ties by median time-to-claim, then by average
    rating (of those orders).  Orders staff assigned count for nothing here but their own
    ``assigned`` figure; a worker who only had assigned ones is not ranked."""
    rows = [RankRow(0, r["name"], r["team"], r["done"], r["median_claim"], r["rating"], r["assigned"])
            for r in await tx.ranking_rows(community, start.timestamp(), end.timestamp(),
                                           confirmed_only=confirmed_only) if r["done"]]
    rows.sort(key=lambda r: (-r.done, r.median_claim if r.median_claim is not None else float("inf"),
                             -(r.rating or 0), r.name))
    for i, row in enumerate(rows, 1):
        row.rank = i
    return rows[:limit]
