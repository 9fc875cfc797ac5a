"""QR-code ordering: the mobile form a poster's QR code opens.

A valid submission becomes a ``发单 …`` message in the chosen grid's group, handled by
``app.process`` exactly as if the resident had posted it there (source recorded as "qr");
the acknowledgement the bot posts to the group is shown on the page too.  Submissions are
limited per client address (``[web].qr_rate_per_hour``), counted in the app's clock.
"""

from __future__ import annotations

import math
import re
from typing import Any

from quart import Blueprint, jsonify, redirect, render_template, request, url_for

from bot.config import Community
from bot.web.actions import post_qr_order, qr_order_text
from bot.web.posters import qr_svg
from bot.web.security import client_key, wants_json
from bot.web.state import state
from handlers.textutil import find_addresses

bp = Blueprint("orderform", __name__)

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
FIELDS = ("grid", "category", "description", "address", "phone", "time_wish", "wechat_name")
NAME = re.compile(r"[\w\u3400-\u9fff·（）()\- ]{1,20}")


def validate(form: Any, community: Community, categories: list[str],
             msgs: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Cleaned values and the problems, one per field, in the words residents use (``msgs``: the
    web words, ``WebState.msgs``)."""
    v = {k: " ".join(str(form.get(k) or "").split()) for k in FIELDS}
    v["phone"] = re.sub(r"[\s()（）]", "", v["phone"])
    errors = {}
    if v["grid"] not in {g.name for g in community.grids}:
        errors["grid"] = msgs["order_form"]["choose_grid"]
    if v["category"] and v["category"] not in categories:
        errors["category"] = msgs["order_form"]["choose_category"]
    if len(v["description"]) < 4:
        errors["description"] = msgs["order_form"]["description_short"]
    elif len(v["description"]) > 200:
        errors["description"] = msgs["order_form"]["description_long"]
    if not v["address"]:
        errors["address"] = msgs["order_form"]["address_missing"]
    elif len(v["address"]) > 60:
        errors["address"] = msgs["order_form"]["address_long"]
    elif next(find_addresses(v["address"]), None) is None:
        errors["address"] = msgs["order_form"]["address_vague"]
    if not (MOBILE.fullmatch(v["phone"]) or LANDLINE.fullmatch(v["phone"])):
        errors["phone"] = msgs["order_form"]["bad_phone"]
    if len(v["time_wish"]) > 20:
        errors["time_wish"] = msgs["order_form"]["time_long"]
    if v["wechat_name"] and not NAME.fullmatch(v["wechat_name"]):
        errors["wechat_name"] = msgs["order_form"]["bad_wechat_name"]
    return v, errors


def _community(name: str) -> Community | None:
    return state().config.community(name)


async def _form(community: Community, values: dict[str, str], errors: dict[str, str], status: int = 200,
                limited: str = ""):
    web = state()
    return await render_template(
        "order_form.html", community=community, values=values, errors=errors, limited=limited,
        categories=[c.name for c in web.config.categories],
        time_choices=web.msgs["order_form"]["time_choices"]), status


@bp.get("/order")
async def choose():
    communities = state().config.communities
    if len(communities) == 1:
        return redirect(url_for("orderform.form", community=communities[0].name))
    return await render_template("order_choose.html", communities=communities)


@bp.get("/order/<community>")
async def form(community: str):
    found, msgs = _community(community), state().msgs
    if found is None:
        return await render_template("message.html", title=msgs["common"]["no_such_community_title"],
                                     message=msgs["common"]["no_such"].format(name=community)), 404
    grid = request.args.get("grid", "")
    values = {k: "" for k in FIELDS} | {"grid": grid if grid in {g.name for g in found.grids} else ""}
    return await _form(found, values, {})


@bp.post("/order/<community>")
async def submit(community: str):
    web = state()
    msgs = web.msgs
    found = _community(community)
    if found is None:
        return jsonify({"ok": False,
                        "errors": {"community": msgs["common"]["no_such_short"].format(name=community)}}), 404
    form = (await request.get_json(silent=True) or {}) if request.is_json else await request.form
    values, errors = validate(form, found, [c.name for c in web.config.categories], msgs)
    limited = ""
    if not web.qr_limiter.allowed(client_key()):
        minutes = max(1, math.ceil(web.qr_limiter.retry_after(client_key()) / 60))
        limited = msgs["order_form"]["too_often"].format(minutes=minutes)
        errors["form"] = limited
    if errors:
        if wants_json():
            return jsonify({"ok": False, "errors": errors}), 429 if limited else 400
        return await _form(found, values, errors, 429 if limited else 400, limited)
    grid = next(g for g in found.grids if g.name == values["grid"])
    text = qr_order_text(web.app.renderer, values["description"], values["address"], values["time_wish"],
                         values["phone"], values["category"])
    outcome = await post_qr_order(web, found, grid, text, values["phone"], values["wechat_name"])
    if outcome.order is None:
        errors["form"] = msgs["order_form"]["failed"]
        if wants_json():
            return jsonify({"ok": False, "errors": errors}), 500
        return await _form(found, values, errors, 500)
    web.qr_limiter.hit(client_key())
    order = outcome.order
    if wants_json():
        return jsonify({"ok": True, "no": order.no, "grid": order.grid, "category": order.category,
                        "ack": outcome.replies, "status_url": url_for("qrstatus.page", token=outcome.token)})
    link = f"{web.public_url}{url_for('qrstatus.page', token=outcome.token)}"
    return await render_template("order_done.html", community=found, order=order, replies=outcome.replies,
                                 group=grid.groups[0], link=link, link_qr=qr_svg(link, msgs["qr_status"]["qr_label"]))
