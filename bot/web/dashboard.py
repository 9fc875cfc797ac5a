"""The staff dashboard: the live order table, one order with its timeline and actions (login: ``bot.web.login``).

Actions are the chat's commands given as the logged-in staff member (see ``bot.web.actions``),
so whatever the chat allows or refuses, the dashboard allows or refuses, with the bot's words.
"""

from __future__ import annotations

import re
from typing import Any

from quart import (
    Blueprint,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from bot.config import Community
from bot.web.actions import act_as_staff
from bot.web.queries import STATUSES, filtered_orders, order_row, read_filter
from bot.web.security import (
    current_staff,
    login_required,
    wants_json,
)
from bot.web.state import state
from handlers.commands import (
    Assign,
    Cancel,
    Command,
    Complete,
    Confirm,
    Dismiss,
    Dispatch,
    Redispatch,
)
from storage.status import Status

bp = Blueprint("dash", __name__)

ACTIONS = ("dispatch", "assign", "redispatch", "cancel", "complete", "confirm", "dismiss")
_ONE_LINE = re.compile(r"^[^\r\n]*$")


def view_community() -> Community:
    """The community the page shows: ``?c=`` if the staff member may see it, else their own."""
    web, name = state(), current_staff()
    assert name is not None
    visible = web.communities_of(name) or [web.acting_community(name) or web.config.communities[0]]
    wanted = request.args.get("c") or (request.view_args or {}).get("c")
    chosen = next((c for c in visible if c.name == wanted), None)
    own = web.acting_community(name)
    return chosen or (own if own in visible else visible[0])


def page_context(community: Community) -> dict[str, Any]:
    web, name = state(), current_staff()
    assert name is not None
    return {"community": community, "staff": name, "visible": web.communities_of(name),
            "can_act": web.acting_community(name) == community, "acting": web.acting_community(name)}


# -- orders ------------------------------------------------------------------------------

@bp.get("/dash")
@login_required
async def home():
    return redirect(url_for("dash.orders"))


async def _orders_data(community: Community):
    web = state()
    f, errors = read_filter(request.args, web, community.name)
    async with web.app.repo.reading() as tx:
        page = None if errors else await filtered_orders(tx, web, community.name, f)
        workers = await tx.list_workers(community.name)
    return f, errors, [order_row(web, o) for o in page.orders] if page else [], workers, page


async def _pending_reviews(community: Community) -> list[dict[str, Any]]:
    """The 待确认 orders, oldest first: the staff answer them from the top of the order page."""
    web = state()
    async with web.app.repo.reading() as tx:
        pending = await tx.find_orders(community.name, statuses=(Status.PENDING_REVIEW,))
    return [order_row(web, o) for o in pending]


@bp.get("/dash/orders")
@login_required
async def orders():
    community = view_community()
    f, errors, rows, workers, page = await _orders_data(community)
    if request.args.get("partial"):
        return await render_template("_order_rows.html", rows=rows, community=community)
    web = state()
    newer = {k: v for k, v in f.as_args().items() if k != "before"}
    return await render_template(
        "orders.html", rows=rows, f=f, errors=errors, workers=workers, reviews=await _pending_reviews(community),
        refresh_url=url_for("dash.orders", partial=1, c=community.name, **f.as_args()),
        older_url=url_for("dash.orders", c=community.name, **newer, before=page.next_before)
        if page and page.next_before else None,
        newest_url=url_for("dash.orders", c=community.name, **newer) if f.before else None,
        search_cut=page.search_cut if page else False, searched=page.searched if page else 0,
        statuses=[(s, web.status_name(s)) for s in STATUSES], categories=[c.name for c in web.config.categories],
        **page_context(community)), 400 if errors else 200


@bp.get("/dash/api/orders")
@login_required
async def orders_json():
    community = view_community()
    f, errors, rows, _, page = await _orders_data(community)
    if errors:
        return jsonify({"ok": False, "errors": errors}), 400
    return jsonify({"ok": True, "community": community.name, "orders": rows,
                    "next_before": page.next_before if page else None})


async def _order_page(community: Community, no: int, errors: dict[str, str] | None = None,
                      form: Any = None, status: int = 200):
    web = state()
    msgs = web.msgs
    async with web.app.repo.reading() as tx:
        order = await tx.get_order(community.name, no)
        if order is None:
            return await render_template("message.html", title=msgs["orders"]["no_order_title"],
                                         message=msgs["orders"]["no_order"].format(community=community.name,
                                                                                   no=no)), 404
        events = await tx.events_for(order.id)
        workers = [w for w in await tx.list_workers(community.name) if w.status == "active"]
    timeline = [{"at": web.local(e.at).strftime("%m-%d %H:%M:%S"), "actor": e.actor, "kind": e.kind,
                 "detail": e.detail} for e in events]
    return await render_template(
        "order.html", order=order, row=order_row(web, order), timeline=timeline, workers=workers,
        categories=[c.name for c in web.config.categories],
        errors=errors or {}, form=form or {}, actions=ACTIONS, **page_context(community)), status


@bp.get("/dash/orders/<int:no>")
@login_required
async def order(no: int):
    return await _order_page(view_community(), no)


def command_for(action: str, no: int, form: Any, workers: dict[str, str], msgs: dict[str, Any],
                categories: tuple[str, ...] = ()) -> tuple[Command | None, dict[str, Any], dict[str, str]]:
    """The command for a dashboard action and its note for the simulator (templates/web/action_note.txt),
    or the problems with the form's fields (in the words of ``msgs``, ``WebState.msgs``)."""
    errors: dict[str, str] = {}
    note: dict[str, Any] = {"action": action, "no": no}
    command: Command
    if action == "dispatch":
        reward, remark = (form.get("reward") or "").strip(), (form.get("note") or "").strip()
        if reward and not (reward.isdigit() and 0 < int(reward) <= 100000):
            errors["reward"] = msgs["orders"]["bad_reward"]
        if len(remark) > 60 or not _ONE_LINE.match(remark):
            errors["note"] = msgs["orders"]["bad_note"]
        reward_text = f"{int(reward)}元" if reward.isdigit() else None
        command = Dispatch(no, reward_text, remark or None)
        note.update(reward=reward_text, note=remark)
    elif action == "assign":
        worker = (form.get("worker") or "").strip()
        if worker not in workers:
            errors["worker"] = msgs["orders"]["choose_worker"]
        command = Assign(no, workers.get(worker, ""), int(worker) if worker in workers else None)
        note.update(worker=workers.get(worker, ""))
    elif action == "cancel":
        reason = (form.get("reason") or "").strip()
        if len(reason) > 60 or not _ONE_LINE.match(reason):
            errors["reason"] = msgs["orders"]["bad_reason"]
        command = Cancel(no, reason or None)
        note.update(reason=reason)
    elif action == "confirm":
        category = (form.get("category") or "").strip()
        if category and category not in categories:
            errors["category"] = msgs["orders"]["choose_category"]
        command = Confirm(no, category or None)
        note.update(category=category)
    elif action == "dismiss":
        command = Dismiss(no)
    elif action == "redispatch":
        command = Redispatch(no)
    else:
        command = Complete(no)
    return (None if errors else command), note, errors


@bp.post("/dash/orders/<int:no>/<action>")
@login_required
async def order_action(no: int, action: str):
    web, community, name = state(), view_community(), current_staff()
    assert name is not None
    msgs = web.msgs
    form = (await request.get_json(silent=True) or {}) if request.is_json else await request.form
    if action not in ACTIONS:
        return jsonify({"ok": False, "errors": {"action": msgs["common"]["no_such_action"]}}), 404
    async with web.app.repo.reading() as tx:
        exists = await tx.get_order(community.name, no) is not None
        workers = {str(w.id): w.name for w in await tx.list_workers(community.name)}
    errors: dict[str, str] = {}
    if not exists:
        errors["order"] = msgs["orders"]["no_order_short"].format(community=community.name, no=no)
    elif web.acting_community(name) != community:
        acting = getattr(web.acting_community(name), "name", msgs["orders"]["no_acting_community"])
        errors["action"] = msgs["orders"]["other_community"].format(acting=acting, community=community.name)
    command, note, field_errors = command_for(action, no, form, workers, msgs,
                                              tuple(c.name for c in web.config.categories))
    errors.update(field_errors)
    if errors or command is None:
        if wants_json():
            return jsonify({"ok": False, "errors": errors}), 400
        if not exists:
            return await render_template("message.html", title=msgs["orders"]["no_order_title"],
                                         message=errors["order"]), 404
        return await _order_page(community, no, errors, form, status=400)
    outcome = await act_as_staff(web, name, command, note)
    text = web.app.renderer.render("web/action_note", note)
    if wants_json():
        async with web.app.repo.reading() as tx:
            after = await tx.get_order(community.name, no)
        # ok: the command was handled; whether it changed the order, the status and the bot's replies say
        return jsonify({"ok": True, "command": text, "replies": outcome.replies,
                        "status": after.status if after else None})
    for reply in outcome.replies or [msgs["orders"]["sent"].format(command=text)]:
        await flash(reply)
    return redirect(url_for("dash.order", no=no, c=community.name))
