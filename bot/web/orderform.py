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
from bot.web.security import client_key, wants_json
from bot.web.state import state
from handlers.textutil import find_addresses

bp = Blueprint("orderform", __name__)

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
TIME_CHOICES = ("尽快", "今天上午", "今天下午", "今天晚上", "明天上午", "明天下午", "周末")
FIELDS = ("grid", "category", "description", "address", "phone", "time_wish")


def validate(form: Any, community: Community, categories: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Cleaned values and the problems, one per field, in the words residents use."""
    v = {k: " ".join(str(form.get(k) or "").split()) for k in FIELDS}
    v["phone"] = re.sub(r"[\s()（）]", "", v["phone"])
    errors = {}
    if v["grid"] not in {g.name for g in community.grids}:
        errors["grid"] = "请选择您所在的网格"
    if v["category"] and v["category"] not in categories:
        errors["category"] = "请从列表里选择服务类别"
    if len(v["description"]) < 4:
        errors["description"] = "请写一下需要做什么，至少 4 个字，例如：厨房水管漏水"
    elif len(v["description"]) > 200:
        errors["description"] = "最多 200 个字"
    if not v["address"]:
        errors["address"] = "请填写地址，例如：阳光小区3栋2单元501室"
    elif len(v["address"]) > 60:
        errors["address"] = "地址最多 60 个字"
    elif next(find_addresses(v["address"]), None) is None:
        errors["address"] = "请写上小区或路名和楼栋号，例如：阳光小区3栋2单元501室"
    if not (MOBILE.fullmatch(v["phone"]) or LANDLINE.fullmatch(v["phone"])):
        errors["phone"] = "请填写 11 位手机号（或带区号的座机号），师傅会打这个电话联系您"
    if len(v["time_wish"]) > 20:
        errors["time_wish"] = "时间最多 20 个字，例如：明天上午"
    return v, errors


def _community(name: str) -> Community | None:
    return state().config.community(name)


async def _form(community: Community, values: dict[str, str], errors: dict[str, str], status: int = 200,
                limited: str = ""):
    web = state()
    return await render_template(
        "order_form.html", community=community, values=values, errors=errors, limited=limited,
        categories=[c.name for c in web.config.categories], time_choices=TIME_CHOICES), status


@bp.get("/order")
async def choose():
    communities = state().config.communities
    if len(communities) == 1:
        return redirect(url_for("orderform.form", community=communities[0].name))
    return await render_template("order_choose.html", communities=communities)


@bp.get("/order/<community>")
async def form(community: str):
    found = _community(community)
    if found is None:
        return await render_template("message.html", title="没有这个社区", message=f"没有「{community}」。"), 404
    grid = request.args.get("grid", "")
    values = {k: "" for k in FIELDS} | {"grid": grid if grid in {g.name for g in found.grids} else ""}
    return await _form(found, values, {})


@bp.post("/order/<community>")
async def submit(community: str):
    web = state()
    found = _community(community)
    if found is None:
        return jsonify({"ok": False, "errors": {"community": f"没有「{community}」"}}), 404
    form = (await request.get_json(silent=True) or {}) if request.is_json else await request.form
    values, errors = validate(form, found, [c.name for c in web.config.categories])
    limited = ""
    if not web.qr_limiter.allowed(client_key()):
        minutes = max(1, math.ceil(web.qr_limiter.retry_after(client_key()) / 60))
        limited = f"这台手机提交得太频繁了，请 {minutes} 分钟后再试，或直接打电话给网格员。"
        errors["form"] = limited
    if errors:
        if wants_json():
            return jsonify({"ok": False, "errors": errors}), 429 if limited else 400
        return await _form(found, values, errors, 429 if limited else 400, limited)
    grid = next(g for g in found.grids if g.name == values["grid"])
    text = qr_order_text(values["description"], values["address"], values["time_wish"], values["phone"],
                         values["category"])
    outcome = await post_qr_order(web, found, grid, text, values["phone"])
    if outcome.order is None:
        errors["form"] = "提交没有成功，请稍后再试，或直接打电话给网格员。"
        if wants_json():
            return jsonify({"ok": False, "errors": errors}), 500
        return await _form(found, values, errors, 500)
    web.qr_limiter.hit(client_key())
    order = outcome.order
    if wants_json():
        return jsonify({"ok": True, "no": order.no, "grid": order.grid, "category": order.category,
                        "ack": outcome.replies})
    return await render_template("order_done.html", community=found, order=order, replies=outcome.replies,
                                 group=grid.groups[0])
