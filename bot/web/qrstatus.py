"""A QR order's own page for its resident: progress, the taker's name and full phone once taken,
a cancel button while nobody has taken it, and a rating once done.

Its address holds an unguessable token given on the done page (as a link and a QR code); the
database keeps only the token's hash.  Cancelling and rating go through the app as the order's
poster would in the group (the same checks, audit and group messages)."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request, url_for

from bot.web.actions import act_as_qr_resident, order_of_token
from bot.web.state import state
from handlers.commands import Cancel, Rate
from storage.status import OPEN, Status

bp = Blueprint("qrstatus", __name__)

OPEN_TO_CANCEL = OPEN  # a resident may cancel until someone has taken it (handlers/dispatch.py)


async def _not_found():
    msgs = state().msgs
    return await render_template("message.html", title=msgs["qr_status"]["not_found_title"],
                                 message=msgs["qr_status"]["not_found"]), 404


@bp.get("/s/<token>")
async def page(token: str):
    web = state()
    order = await order_of_token(web, token)
    if order is None:
        return await _not_found()
    return await render_template("order_status.html", order=order, token=token,
                                 steps=web.msgs["qr_status"]["steps"], status=str(order.status),
                                 can_cancel=order.status in OPEN_TO_CANCEL,
                                 can_rate=order.status == Status.DONE and order.rating is None)


@bp.post("/s/<token>/cancel")
async def cancel(token: str):
    web = state()
    order = await order_of_token(web, token)
    if order is None:
        return await _not_found()
    if order.status in OPEN_TO_CANCEL:
        await act_as_qr_resident(web, order, Cancel(order.no, web.msgs["qr_status"]["cancel_reason"]))
    return redirect(url_for("qrstatus.page", token=token))


@bp.post("/s/<token>/rate")
async def rate(token: str):
    web = state()
    order = await order_of_token(web, token)
    if order is None:
        return await _not_found()
    form = await request.form
    try:
        score = int(form.get("score", ""))
    except ValueError:
        score = 0
    if 1 <= score <= 5 and order.status == Status.DONE:
        await act_as_qr_resident(web, order, Rate(order.no, score, score >= 4))
    return redirect(url_for("qrstatus.page", token=token))
