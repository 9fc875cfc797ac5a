"""The worker roster: figures per worker, approve/suspend (as chat commands), import and export
as CSV or xlsx, and the fill-in template.

Import uses ``bot.sheets.roster.read_roster``, the reader ``linggong workers import`` uses: CSV
(UTF-8 or GBK) or xlsx, told by content whatever the file is called; every row is checked first,
problems are listed by line and column and nothing is imported unless the whole file is clean.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from quart import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from bot.sheets.roster import (
    COLUMNS,
    RosterError,
    export_roster,
    export_roster_xlsx,
    import_roster,
    read_roster,
    roster_template,
    template_filename,
)
from bot.web.actions import act_as_staff
from bot.web.dashboard import page_context, view_community
from bot.web.queries import worker_figures
from bot.web.security import current_staff, login_required, wants_json
from bot.web.state import state
from handlers.commands import Approve, Suspend

bp = Blueprint("workers", __name__)

STATUS_COMMANDS = {"approve": Approve, "suspend": Suspend}


async def _page(problems: list[str] | None = None, status: int = 200):
    web, community = state(), view_community()
    async with web.app.repo.reading() as tx:
        rows = await worker_figures(tx, web, community.name)
    return await render_template("workers.html", rows=rows, problems=problems or [], columns=COLUMNS,
                                 duration=web.app.renderer.duration, **page_context(community)), status


@bp.get("/dash/workers")
@login_required
async def workers():
    return await _page()


@bp.post("/dash/workers/<int:worker_id>/<action>")
@login_required
async def set_status(worker_id: int, action: str):
    web, community, name = state(), view_community(), current_staff()
    assert name is not None
    msgs = web.msgs
    async with web.app.repo.reading() as tx:
        worker = await tx.get_worker(worker_id)
    errors = {}
    if action not in STATUS_COMMANDS:
        errors["action"] = msgs["common"]["no_such_action"]
    elif worker is None or worker.community != community.name:
        errors["worker"] = msgs["workers"]["no_such_worker"]
    elif web.acting_community(name) != community:
        errors["action"] = msgs["workers"]["other_community"].format(community=community.name)
    if errors:
        if wants_json():
            return jsonify({"ok": False, "errors": errors}), 400
        return await _page(list(errors.values()), 400)
    assert worker is not None
    outcome = await act_as_staff(web, name, STATUS_COMMANDS[action](worker.name, worker.id),
                                 {"action": action, "worker": worker.name})
    if wants_json():
        return jsonify({"ok": True, "replies": outcome.replies})
    for reply in outcome.replies:
        await flash(reply)
    return redirect(url_for("workers.workers", c=community.name))


@bp.post("/dash/workers/import")
@login_required
async def import_csv():
    web, community, name = state(), view_community(), current_staff()
    assert name is not None
    msgs = web.msgs
    if web.acting_community(name) != community:
        own = getattr(web.acting_community(name), "name", "-")
        return await _page([msgs["workers"]["import_other_community"].format(community=own)], 403)
    upload = (await request.files).get("file")
    if upload is None or not upload.filename:
        return await _page([msgs["workers"]["choose_file"]], 400)
    try:
        # a 2 MB workbook takes openpyxl a while: off the event loop the bot's messages go on meanwhile
        rows = await asyncio.to_thread(read_roster, upload.read(), [c.name for c in web.config.categories])
    except RosterError as exc:
        return await _page([msgs["workers"]["nothing_imported"]] + exc.problems, 400)
    counts = await import_roster(web.app.repo, community.name, rows, web.now().timestamp())
    await flash(msgs["workers"]["imported"].format(rows=len(rows), added=counts["added"], updated=counts["updated"]))
    return redirect(url_for("workers.workers", c=community.name))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(data: bytes, mimetype: str, filename: str, ascii_name: str) -> Response:
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": disposition})


@bp.get("/dash/workers/export.csv")
@login_required
async def export_csv():
    web, community = state(), view_community()
    text = await export_roster(web.app.repo, community.name)
    return _download(text.encode("utf-8-sig"), "text/csv", "roster.csv", "roster.csv")


@bp.get("/dash/workers/export.xlsx")
@login_required
async def export_xlsx():
    web, community = state(), view_community()
    return _download(await export_roster_xlsx(web.app.repo, community.name), XLSX, "roster.xlsx", "roster.xlsx")


@bp.get("/dash/workers/template.xlsx")
@login_required
async def template_xlsx():
    web = state()
    data = await asyncio.to_thread(roster_template, [c.name for c in web.config.categories], "xlsx")
    return _download(data, XLSX, template_filename("xlsx"), "roster-template.xlsx")
