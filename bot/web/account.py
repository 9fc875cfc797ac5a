"""The WeChat account on the dashboard: its state for the admins (with the login QR code while it
waits for a scan) and a red banner on every staff page while it has been down too long.

Dashboard logins are confirmed by a code the bot sends over WeChat, so while the account is logged
out nobody could log in to see the QR code.  The page is therefore also open, without a login, to
a browser on the station PC itself: a loopback client that came through no proxy (a reverse proxy
on the same machine forwards with X-Forwarded-For / Forwarded / X-Real-IP, and is refused)."""

from __future__ import annotations

from datetime import datetime

from quart import Blueprint, redirect, render_template, request, url_for

from bot.web.bindings import admin_scope
from bot.web.posters import qr_svg
from bot.web.security import current_staff
from bot.web.state import state

bp = Blueprint("account", __name__)


def alarm() -> str | None:
    """The banner's text while the account has not been logged in for longer than
    ``[wechat] alert_after`` (for logged-in staff only), else None."""
    web = state()
    watch = web.account
    if watch is None or current_staff() is None or not watch.alarming():
        return None
    minutes = int(watch.status.down_for(web.now().timestamp()) // 60)
    return web.msgs["account"]["banner"].format(state=web.msgs["account"]["states"][watch.status.state],
                                                minutes=minutes)


PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def on_the_station_pc() -> bool:
    address = request.remote_addr or ""
    return (address in ("127.0.0.1", "::1") or address.startswith("127.")) and not any(
        h in request.headers for h in PROXY_HEADERS)


@bp.get("/dash/wechat")
async def page():
    web = state()
    name = current_staff()
    if name is None and not on_the_station_pc():
        return redirect(url_for("dash.login", next=request.full_path.rstrip("?")))
    allowed = name is None or admin_scope(web, name)[0]
    if not allowed:
        return await render_template("message.html", title=web.msgs["account"]["admins_only_title"],
                                     message=web.msgs["account"]["admins_only"]), 403
    watch = web.account
    status = watch.status if watch is not None else None
    since = datetime.fromtimestamp(status.since, web.app.clock.tz) if status else None
    qr = qr_svg(status.qrcode, web.msgs["account"]["qr_label"]) if status and status.qrcode else None
    detail = status.detail if status else ""
    if status and status.state == "waiting_scan":
        detail = web.msgs["account"]["scan"].get(detail, "")  # the gateway's status word, in Chinese
    return await render_template("wechat.html", status=status, since=since, qr=qr, detail=detail,
                                 states=web.msgs["account"]["states"],
                                 alarming=watch.alarming() if watch else False)
