"""The worker roster: figures per worker, approve/suspend (as chat commands), CSV import and export.

CSV import uses ``bot.sheets.roster``: every row is checked first, bad rows are listed by line and
nothing is imported unless the whole file is clean.
"""

from __future__ import annotations

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
    import_roster,
    parse_roster,
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
    async with web.app.repo.transaction() as tx:
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
    async with web.app.repo.transaction() as tx:
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
    raw = upload.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # saved from Excel/WPS on a Chinese Windows
        except UnicodeDecodeError:
            return await _page([msgs["workers"]["not_text"].format(filename=upload.filename)], 400)
    try:
        rows = parse_roster(text, {c.name for c in web.config.categories}, upload.filename)
    except RosterError as exc:
        return await _page([msgs["workers"]["nothing_imported"]] + exc.problems, 400)
    counts = await import_roster(web.app.repo, community.name, rows, web.now().timestamp())
    await flash(msgs["workers"]["imported"].format(rows=len(rows), added=counts["added"], updated=counts["updated"]))
    return redirect(url_for("workers.workers", c=community.name))


@bp.get("/dash/workers/export.csv")
@login_required
async def export_csv():
    web, community = state(), view_community()
    text = await export_roster(web.app.repo, community.name)
    return Response(("\ufeff" + text).encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''roster.csv"})
