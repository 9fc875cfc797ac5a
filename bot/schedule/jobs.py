"""Scheduled job bodies: daily tally, rankings, and the sweep (escalation, stale, follow-up).

Each body is an ordinary coroutine taking the app, the community and the time it was due,
so tests call them directly and both schedulers (real and simulated) run the same code.
Periodic reports record their run in ``job_runs`` first: a period is reported once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Community
from handlers.base import Reply
from handlers.common import card
from handlers.reports import period_bounds, ranking, tally
from storage.models import Order
from storage.status import Status

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

FOLLOWUP_HORIZON = 7 * 86400  # orders completed longer ago than this get no follow-up any more
RANKING_JOBS = {"weekly_ranking": "week", "monthly_ranking": "month", "yearly_ranking": "year"}


def report_period(job: str, due: datetime) -> tuple[str, datetime, datetime]:
    """The period a report due at ``due`` covers: its key and [start, end).

    The daily tally covers the day it is due; a ranking covers the last whole period that ended
    at or before its due time (Monday 09:00 -> last week)."""
    if job == "daily_tally":
        start, end = period_bounds(due, "day")
        return start.date().isoformat(), start, end
    kind = RANKING_JOBS[job]
    current_start, _ = period_bounds(due, kind)
    start, end = period_bounds(current_start - timedelta(seconds=1), kind)
    key = {"week": f"{start.date().isoformat()}W", "month": start.strftime("%Y-%m"), "year": str(start.year)}[kind]
    return key, start, end


async def run_report(app: "App", job: str, community: Community, due: datetime, *, late: bool = False) -> bool:
    """Post report ``job`` for the period that ``due`` covers, once; True if it was posted now."""
    now = app.clock.now()
    period, start, end = report_period(job, due)
    # The report is read from a snapshot, outside the write lock (it reads a whole period);
    # the write transaction only claims the period and queues the messages.
    async with app.repo.reading() as tx:
        if job == "daily_tally":
            replies = await tally_replies(app, tx, community, start, end, now, late)
        else:
            reply = await ranking_reply(app, tx, community, RANKING_JOBS[job], start, end, late=late)
            replies = [reply] if reply.data["rows"] else []  # nobody completed anything: say nothing
    async with app.repo.transaction() as tx:
        if not await tx.claim_job_run(job, community.name, period, due.timestamp(), now.timestamp(), late):
            log.info("%s for %s %s already ran; skipped", job, community.name, period)
            return False
        await app.enqueue(tx, replies, now, community, bulk=True)
    log.info("%s for %s %s posted%s", job, community.name, period, " late" if late else "")
    if job == "daily_tally":
        await write_daily_export(app, community, start, end)
    return True


async def ranking_reply(app: "App", tx, community: Community, kind: str, start: datetime, end: datetime, *,
                        late: bool = False) -> Reply:
    """The scheduled ranking of [start, end) for the market group; the yearly one names the awards."""
    top = app.config.rankings.award_top
    rows = await ranking(tx, community.name, start, end, limit=max(10, top),
                         confirmed_only=app.config.rankings.confirmed_only)
    return Reply("ranking", dict(
        period=kind, rows=[r.__dict__ for r in rows[:10]], start=start.timestamp(),
        end=(end - timedelta(seconds=1)).timestamp(), late=late, final=True,
        awards=[r.__dict__ for r in rows[:top]] if kind == "year" else [],
    ), room=community.market_group)


async def tally_replies(app: "App", tx, community: Community, start: datetime, end: datetime, now: datetime,
                        late: bool = False) -> list[Reply]:
    """The daily tally: the whole community to the market group, each grid's lines to its group,
    and each grid's unanswered follow-ups and unanswered 待确认 reviews to its staff by direct message."""
    data = await tally(tx, community.name, start, end, now=now)
    replies = [Reply("tally", {"t": data.as_data(), "late": late, "grid": None}, room=community.market_group)]
    for grid in community.grids:
        grid_data = await tally(tx, community.name, start, end, now=now, grid=grid.name)
        if not any(grid_data.counts.values()) and not grid_data.unclaimed:
            continue  # a quiet grid gets no table of zeros
        replies.append(Reply("tally", {"t": grid_data.as_data(), "late": late, "grid": grid.name},
                             room=grid.groups[0]))
    cutoff = now.timestamp() - community.schedule.followup_unanswered_hours * 3600
    # asked for a rating in the week before the cutoff and never answered: a range of the
    # (community, followup_sent_at) index (migration 011), not every completed order
    unanswered = await tx.find_orders(community.name, statuses=(Status.DONE,), time_column="followup_sent_at",
                                      start=cutoff - 7 * 86400 + 0.001, end=cutoff, is_null=("rating",))
    pending = await tx.find_orders(community.name, statuses=(Status.PENDING_REVIEW,))  # 待确认, not answered yet
    for grid in community.grids:
        items = [dict(card(app, o), resident=o.resident_name, done_at=o.done_at,
                      taker=o.taker.name if o.taker else "") for o in unanswered if o.grid == grid.name]
        reviews = [dict(card(app, o), created_at=o.created_at) for o in pending if o.grid == grid.name]
        if items or reviews:
            for staff in app.directory.staff_ids(community, grid.name):
                replies.append(Reply("followup_list", {"grid": grid.name, "items": items, "reviews": reviews},
                                     contact=staff))
    return replies


async def write_daily_export(app: "App", community: Community, start: datetime, end: datetime) -> Path | None:
    """Write that day's order table as xlsx into the community's export folder."""
    from bot.sheets.export import export_orders

    folder = Path(community.schedule.export_dir)
    path = folder / f"{community.name}-{start.date().isoformat()}.xlsx"
    try:
        await export_orders(app.repo, app.config, community.name, start, end, path, "xlsx")
    except OSError as exc:
        log.error("could not write the daily export %s: %s", path, exc)
        return None
    return path


def followup_due(community: Community, done_at: float, tz) -> float:
    """When to ask for the rating: N hours after completion, moved into the daytime window."""
    due = datetime.fromtimestamp(done_at, tz) + timedelta(hours=community.schedule.followup_after_hours)
    opens, closes = (time.fromisoformat(t) for t in community.schedule.followup_window)
    if due.time() < opens:
        due = due.replace(hour=opens.hour, minute=opens.minute, second=0, microsecond=0)
    elif due.time() >= closes:
        due = (due + timedelta(days=1)).replace(hour=opens.hour, minute=opens.minute, second=0, microsecond=0)
    return due.timestamp()


SWEEP_BATCH = 20  # due steps per write transaction: a backlog never holds the write lock for long


async def sweep(app: "App", community: Community) -> None:
    """Escalate unclaimed orders, remind stale ones, ask for follow-up ratings: all that is due.

    What is due is read from a snapshot (open orders and a week of completed ones, through
    indexes); the steps are applied in write transactions of at most ``SWEEP_BATCH`` orders.
    Several instances may sweep one community at the same moment.  Every step is one
    conditional update (``... WHERE escalation_level = 0``, ``... stale_reminded_at IS NULL``)
    and its event and messages are added only when this instance's update won, so each
    escalation, reminder and follow-up happens once."""
    now = app.clock.now()
    ts = now.timestamp()
    sched = community.schedule
    async with app.repo.reading() as tx:
        dispatched = await tx.find_orders(community.name, statuses=(Status.DISPATCHED,), takers=False)
        stale = await tx.stale_taken(community.name, ts - sched.stale_after_hours * 3600)
        done = await tx.find_orders(community.name, statuses=(Status.DONE,), time_column="done_at",
                                    start=ts - FOLLOWUP_HORIZON, is_null=("rating", "followup_sent_at"))
    due: list[tuple[Step, Order]] = []
    for order in dispatched:
        waited = ts - (order.dispatched_at or order.created_at)
        if order.escalation_level == 0 and waited >= sched.escalate_after_minutes * 60:
            due.append((_escalate, order))
        elif order.escalation_level == 1 and waited >= sched.admins_after_minutes * 60:
            due.append((_escalate, order))
    due += [(_remind_stale, o) for o in stale if o.taker is not None]
    due += [(_ask_followup, o) for o in done
            if o.done_at is not None and followup_due(community, o.done_at, app.config.tz) <= ts]
    for i in range(0, len(due), SWEEP_BATCH):
        replies: list[Reply] = []
        async with app.repo.transaction() as tx:
            for step, order in due[i:i + SWEEP_BATCH]:
                await step(app, tx, community, order, ts, replies)
            await app.enqueue(tx, replies, now, community, bulk=True)


Step = Callable[["App", Any, Community, Order, float, list[Reply]], Awaitable[None]]


async def _escalate(app: "App", tx: Any, community: Community, order: Order, ts: float, replies: list[Reply]) -> None:
    """To the market group and the grid's staff after escalate_after_minutes; to the admins after
    admins_after_minutes."""
    waited = ts - (order.dispatched_at or order.created_at)
    level = order.escalation_level + 1
    if not await tx.update_order(order.id, {"escalation_level": level, "escalated_at": ts},
                                 expect_status=(Status.DISPATCHED,),
                                 expect={"escalation_level": order.escalation_level,
                                         "dispatched_at": order.dispatched_at}):
        return  # taken or re-dispatched meanwhile, or another instance escalated it
    if level == 1:
        await tx.add_event(order.id, community.name, ts, "bot", "escalated", "market+staff")
        replies.append(Reply("order_card", {"kind": "escalated", "order": card(app, order)}, room=community.market_group))
        grid_room = app.directory.grid_room(community, order.grid)
        if grid_room:
            replies.append(Reply("escalate_staff", {"no": order.no, "minutes": int(waited // 60)}, room=grid_room,
                                 mentions=tuple(app.directory.staff_ids(community, order.grid))))
        return
    await tx.add_event(order.id, community.name, ts, "bot", "escalated", "admins")
    for admin in app.directory.admin_ids(community):
        replies.append(Reply("escalate_admin", {"no": order.no, "grid": order.grid, "minutes": int(waited // 60),
                                                "order": card(app, order)}, contact=admin))


async def _remind_stale(app: "App", tx: Any, community: Community, order: Order, ts: float,
                        replies: list[Reply]) -> None:
    assert order.taker is not None
    if not await tx.update_order(order.id, {"stale_reminded_at": ts}, expect_status=(Status.TAKEN,),
                                 expect={"stale_reminded_at": None, "taker_id": order.taker_id,
                                         "taken_at": order.taken_at}):
        return
    await tx.add_event(order.id, community.name, ts, "bot", "stale_reminded", order.taker.name)
    data = {"no": order.no, "hours": int((ts - (order.taken_at or ts)) // 3600), "worker": order.taker.name}
    if order.taker.bound:  # direct messages only to a proven contact id
        replies.append(Reply("stale_taker", data, contact=order.taker.wechat))
    grid_room = app.directory.grid_room(community, order.grid)
    if grid_room:
        replies.append(Reply("stale_staff", data, room=grid_room,
                             mentions=tuple(app.directory.staff_ids(community, order.grid))))


async def _ask_followup(app: "App", tx: Any, community: Community, order: Order, ts: float,
                        replies: list[Reply]) -> None:
    if not await tx.update_order(order.id, {"followup_sent_at": ts}, expect_status=(Status.DONE,),
                                 expect={"followup_sent_at": None, "rating": None}):
        return
    await tx.add_event(order.id, community.name, ts, "bot", "followup", "")
    room = order.origin_room or app.directory.grid_room(community, order.grid)
    data = {"no": order.no, "worker": order.taker.name if order.taker else "", "category": order.category,
            "proxy": order.source == "proxy"}
    if room:
        replies.append(Reply("followup_ask", data, room=room, mentions=(order.resident_id,)))


async def next_sweep_deadline(app: "App", community: Community) -> float | None:
    """The earliest time at which ``sweep`` would have something to do (None: nothing pending)."""
    sched = community.schedule
    deadlines: list[float] = []
    async with app.repo.reading() as tx:
        for order in await tx.find_orders(community.name, statuses=(Status.DISPATCHED,), takers=False):
            base = order.dispatched_at or order.created_at
            if order.escalation_level == 0:
                deadlines.append(base + sched.escalate_after_minutes * 60)
            elif order.escalation_level == 1:
                deadlines.append(base + sched.admins_after_minutes * 60)
        if (first := await tx.first_unreminded_taken_at(community.name)) is not None:
            deadlines.append(first + sched.stale_after_hours * 3600)
        for order in await tx.find_orders(community.name, statuses=(Status.DONE,), time_column="done_at",
                                          start=app.clock.now().timestamp() - FOLLOWUP_HORIZON,
                                          is_null=("rating", "followup_sent_at"), takers=False):
            if order.done_at is not None:
                deadlines.append(followup_due(community, order.done_at, app.config.tz))
    return min(deadlines) if deadlines else None
