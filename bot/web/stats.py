"""Today's tally, the rankings with charts, and the order table as xlsx/csv (``bot.sheets.export``)."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

from quart import Blueprint, Response, render_template, request

from bot.sheets.export import export_orders
from bot.web import charts
from bot.web.dashboard import page_context, view_community
from bot.web.queries import chart_data
from bot.web.security import login_required
from bot.web.state import state
from handlers.reports import period_bounds, ranking, tally

bp = Blueprint("stats", __name__)

PERIODS = ("day", "week", "month", "year")  # their names: labels.toml [web.stats].periods
FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv"}


def _export_form(args) -> tuple[dict[str, str], dict[str, str]]:
    msgs = state().msgs
    today = state().now().date()
    form = {"from": args.get("from", today.replace(day=1).isoformat()), "to": args.get("to", today.isoformat()),
            "format": args.get("format", "xlsx")}
    errors: dict[str, str] = {}
    days = {}
    for key in ("from", "to"):
        try:
            days[key] = date.fromisoformat(form[key])
        except ValueError:
            errors[key] = msgs["export"]["bad_date"]
    if not errors and days["from"] > days["to"]:
        errors["to"] = msgs["export"]["to_before_from"]
    if not errors and (days["to"] - days["from"]).days > 366:
        errors["to"] = msgs["export"]["too_long"]
    if form["format"] not in FORMATS:
        errors["format"] = msgs["export"]["bad_format"]
    return form, errors


async def _page(export_form: dict[str, str], export_errors: dict[str, str], status: int = 200):
    web, community = state(), view_community()
    msgs = web.msgs
    period = request.args.get("period", "month")
    if period not in PERIODS:
        period = "month"
    now = web.now()
    day_start, day_end = period_bounds(now, "day")
    start, end = period_bounds(now, period)
    async with web.app.repo.reading() as tx:  # a snapshot: never holds the write lock
        today = await tally(tx, community.name, day_start, day_end, now=now)
        rows = await ranking(tx, community.name, start, end, limit=10,
                             confirmed_only=web.config.rankings.confirmed_only)
        data = await chart_data(tx, web, community.name, period)
    periods = {key: msgs["stats"]["periods"][key] for key in PERIODS}
    label, empty = periods[period], msgs["charts"]["empty"]
    figures = {
        "per_worker": charts.hbars(data["per_worker"], msgs["stats"]["per_worker"].format(period=label),
                                   unit=msgs["charts"]["unit"], empty=empty),
        "per_day": charts.columns(data["per_day"], msgs["stats"]["per_day"], legend=msgs["stats"]["per_day_legend"],
                                  empty=empty),
        "claims": charts.columns(data["claims"], msgs["stats"]["claims"].format(period=label), empty=empty),
    }
    return await render_template(
        "stats.html", today=today, rows=rows, period=period, periods=periods, figures=figures,
        assigned=data["assigned"],
        duration=web.app.renderer.duration, export=export_form, export_errors=export_errors,
        **page_context(community)), status


@bp.get("/dash/stats")
@login_required
async def stats():
    form, _ = _export_form({})
    return await _page(form, {})


@bp.get("/dash/export")
@login_required
async def export():
    web, community = state(), view_community()
    form, errors = _export_form(request.args)
    if errors:
        return await _page(form, errors, 400)
    tz = web.config.tz
    start = datetime.combine(date.fromisoformat(form["from"]), datetime.min.time(), tz)
    end = datetime.combine(date.fromisoformat(form["to"]), datetime.min.time(), tz) + timedelta(days=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"orders.{form['format']}"
        await export_orders(web.app.repo, web.config, community.name, start, end, path, form["format"])
        body = path.read_bytes()
    filename = f"orders-{form['from']}-{form['to']}.{form['format']}"
    return Response(body, mimetype=FORMATS[form["format"]],
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
