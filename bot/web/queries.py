"""Read-only views of storage for the web pages: order lists, worker figures, board data, charts.

Everything reads through the Repository protocol (``find_orders``, ``list_workers``…), so it
works on any backend.  The board's data is built from an explicit list of public fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.web.state import WebState
from handlers.parse import mask_phone, mask_text
from handlers.privacy import public
from handlers.reports import period_bounds, ranking, tally
from handlers.textutil import restore_punct
from storage.models import Order, Worker
from storage.repository import Tx
from storage.status import OPEN, Status

STATUSES = tuple(Status)


@dataclass
class OrderFilter:
    status: str = ""
    grid: str = ""
    category: str = ""
    day: str = ""  # YYYY-MM-DD (created that day)
    worker: str = ""  # worker id as text
    q: str = ""
    before: str = ""  # order number as text: the page of orders numbered below it

    def as_args(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


def read_filter(args: Any, web: WebState, community_name: str) -> tuple[OrderFilter, dict[str, str]]:
    """The filter from query arguments; unknown values are reported, not silently ignored."""
    community = web.config.community(community_name)
    assert community is not None
    f = OrderFilter(**{k: (args.get(k) or "").strip()[:60] for k in OrderFilter.__dataclass_fields__})
    msgs = web.msgs
    errors = {}
    if f.status and f.status not in STATUSES and f.status != "open":
        errors["status"] = msgs["filter"]["bad_status"]
    if f.grid and f.grid not in {g.name for g in community.grids}:
        errors["grid"] = msgs["filter"]["bad_grid"]
    known_categories = {c.name for c in web.config.categories} | {web.labels["words"]["other_category"]}
    if f.category and f.category not in known_categories:
        errors["category"] = msgs["filter"]["bad_category"]
    if f.day:
        try:
            date.fromisoformat(f.day)
        except ValueError:
            errors["day"] = msgs["filter"]["bad_day"]
    if f.worker and not f.worker.isdigit():
        errors["worker"] = msgs["filter"]["choose_worker"]
    if f.before and not f.before.isdigit():
        f.before = ""  # a page link someone edited: the first page
    return f, errors


PAGE = 100  # orders per page of the staff's order list
SEARCH_BATCH = 500  # orders read per query while searching the text
SEARCH_LIMIT = 20_000  # the text search looks through this many of the newest orders at most


@dataclass
class OrderPage:
    orders: list[Order]
    next_before: int | None  # the next (older) page: orders numbered below this one
    searched: int  # orders read
    search_cut: bool  # the text search stopped at SEARCH_LIMIT before the oldest order


async def filtered_orders(tx: Tx, web: WebState, community: str, f: OrderFilter, limit: int = PAGE) -> OrderPage:
    """One page of the filtered orders, newest first.  Every filter but the text search is part
    of the query (an index range); the text search reads the newest orders in batches until the
    page is full, at most SEARCH_LIMIT of them."""
    start = end = None
    if f.day:
        day = datetime.combine(date.fromisoformat(f.day), datetime.min.time(), web.config.tz)
        start, end = day.timestamp(), (day + timedelta(days=1)).timestamp()
    statuses = OPEN if f.status == "open" else (f.status,) if f.status else None
    other = f.category == web.labels["words"]["other_category"]  # not recognised: no category
    query = dict(statuses=statuses, grid=f.grid or None, taker_id=int(f.worker) if f.worker else None,
                 category=None if other or not f.category else f.category, is_null=("category",) if other else (),
                 start=start, end=end, newest_first=True)
    before = int(f.before) if f.before else None
    batch = min(SEARCH_BATCH, SEARCH_LIMIT) if f.q else limit + 1
    q = f.q.lstrip("#＃").casefold()
    found: list[Order] = []
    searched, exhausted = 0, False
    while len(found) <= limit and (searched < SEARCH_LIMIT or not f.q):
        orders = await tx.find_orders(community, **query, before_no=before, limit=batch)
        searched += len(orders)
        found += [o for o in orders if not q or _matches(o, q)]
        if len(orders) < batch:
            exhausted = True
            break
        before = orders[-1].no
    cut = bool(f.q) and not exhausted and len(found) <= limit  # stopped at the bound, older ones unread
    page = found[:limit]
    more = len(found) > limit or (cut and bool(page))
    return OrderPage(page, page[-1].no if more and page else None, searched, cut)


def _matches(o: Order, q: str) -> bool:
    return q == str(o.no) or any(q in (text or "").casefold() for text in (
        o.need_text, o.resident_name, o.address, o.grid, o.taker.name if o.taker else "", *o.phones))


def _category(web: WebState, name: str | None) -> str:
    """An order's category, or the word for one that was not recognised."""
    return name or web.labels["words"]["other_category"]


def order_row(web: WebState, o: Order) -> dict[str, Any]:
    """One row of the staff's order table (phones masked; the detail page shows them)."""
    return {
        "no": o.no, "status": o.status, "status_name": web.status_name(o.status), "grid": o.grid,
        "category": _category(web, o.category), "text": restore_punct(mask_text(o.need_text)),
        "resident": o.resident_name or web.labels["words"]["phoned_resident"],
        "phones": [mask_phone(p) for p in o.phones], "location": o.coarse_address or "",
        "time_wish": o.time_wish or "", "taker": o.taker.name if o.taker else "",
        "created": web.local(o.created_at).strftime("%m-%d %H:%M"), "source": o.source,
        "claim_seconds": o.claim_seconds, "assigned": o.assigned,  # assigned (指派): no claim time
    }


CLAIM_WINDOW_DAYS = 90  # the median time to claim is of the claims of the last 90 days


async def worker_figures(tx: Tx, web: WebState, community: str) -> list[dict[str, Any]]:
    """The roster with active orders, completed this month and the median time-to-claim of the
    last 90 days (of claims: an assigned order has no claim time); three index range reads."""
    now = web.now()
    month_start, month_end = period_bounds(now, "month")
    figures = await tx.worker_activity(community, month_start.timestamp(), month_end.timestamp(),
                                       (now - timedelta(days=CLAIM_WINDOW_DAYS)).timestamp())
    rows = []
    for w in await tx.list_workers(community):
        mine = figures.get(w.id, {"active": 0, "done": 0, "median_claim": None})
        rows.append({
            "id": w.id, "name": w.name, "wechat": w.wechat, "phone": w.phone, "skills": list(w.skills),
            "team": w.team or "", "pledge_date": w.pledge_date or "", "status": w.status,
            "status_name": web.labels["roster"]["status_names"].get(w.status, w.status),
            "active": mine["active"], "done_month": mine["done"], "median_claim": mine["median_claim"],
        })
    return rows


async def workers_of(tx: Tx, community: str) -> list[Worker]:
    return await tx.list_workers(community)


# -- the display board: public fields only --------------------------------------------------

async def board_data(tx: Tx, web: WebState, community: str) -> dict[str, Any]:
    now = web.now()
    day_start, day_end = period_bounds(now, "day")
    month_start, month_end = period_bounds(now, "month")
    waiting = await tx.find_orders(community, statuses=OPEN, takers=False)
    t = await tally(tx, community, day_start, day_end, now=now)
    top = await ranking(tx, community, month_start, month_end, limit=10)
    return {
        "community": community,
        "updated": now.strftime("%H:%M:%S"),
        "date": web.labels["time"]["month_day"].format(month=now.month, day=now.day),
        "open": [{
            "no": o.no, "status": web.status_name(o.status), "category": _category(web, o.category), "grid": o.grid,
            "location": public(o.coarse_address or ""), "time_wish": o.time_wish or "",
            "waiting": _coarse_duration(web, now.timestamp() - (o.dispatched_at or o.created_at)),
        } for o in sorted(waiting, key=lambda o: o.no)],
        # taken: claimed in the market group; assigned (指派) apart, as everywhere; the ranking is of claims
        "today": {k: t.counts[k] for k in (Status.POSTED, Status.TAKEN, Status.DONE)}
                 | {"assigned": t.counts["assigned"], "waiting": len(waiting)},
        "top": [{"rank": r.rank, "name": r.name, "team": r.team or "", "done": r.done} for r in top],
        "month": web.msgs["board"]["month"].format(month=now.month),
        "assigned_note": web.msgs["board"]["assigned"].format(n=t.counts["assigned"]) if t.counts["assigned"] else "",
    }


def _coarse_duration(web: WebState, seconds: float) -> str:
    """Whole minutes once past the first one: a board read from across the room needs no seconds."""
    return web.app.renderer.duration(seconds if seconds < 60 else seconds - seconds % 60)


# -- charts --------------------------------------------------------------------------------

CLAIM_LIMITS = (10, 30, 60, 300, 1800, float("inf"))  # seconds; bucket names: labels.toml [web.charts]


async def chart_data(tx: Tx, web: WebState, community: str, period: str) -> dict[str, Any]:
    """The stats page's charts: counted by the database (``Tx.chart_counts``), not order by order."""
    now = web.now()
    labels = web.msgs["charts"]["claim_buckets"]
    assert len(labels) == len(CLAIM_LIMITS), "labels.toml [web.charts] claim_buckets"
    start, end = period_bounds(now, period)
    first_day = (now - timedelta(days=13)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(first_day + timedelta(days=i)).date() for i in range(14)]
    edges = [datetime.combine(d, datetime.min.time(), now.tzinfo).timestamp() for d in days]
    edges.append(datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), now.tzinfo).timestamp())
    counts = await tx.chart_counts(community, start.timestamp(), end.timestamp(), CLAIM_LIMITS, edges)
    return {
        "per_worker": counts["per_worker"],
        "per_day": [(f"{d.month}/{d.day}", posted, done) for d, posted, done in zip(days, counts["posted"], counts["done"])],
        "claims": list(zip(labels, counts["claims"])),
        "assigned": counts["assigned"],  # left out of the claim times, said under the chart
    }
