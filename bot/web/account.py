"""The WeChat account on the dashboard: its state for the admins (with the login QR code while it
waits for a scan) and a red banner on every staff page while it has been down too long."""

from __future__ import annotations

from datetime import datetime

from quart import Blueprint, render_template

from bot.web.bindings import admin_scope
from bot.web.posters import qr_svg
from bot.web.security import current_staff, login_required
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


@bp.get("/dash/wechat")
@login_required
async def page():
    web = state()
    allowed, _ = admin_scope(web, current_staff() or "")
    if not allowed:
        return await render_template("message.html", title=web.msgs["account"]["admins_only_title"],
                                     message=web.msgs["account"]["admins_only"]), 403
    watch = web.account
    status = watch.status if watch is not None else None
    since = datetime.fromtimestamp(status.since, web.app.clock.tz) if status else None
    qr = qr_svg(status.qrcode, web.msgs["account"]["qr_label"]) if status and status.qrcode else None
    return await render_template("wechat.html", status=status, since=since, qr=qr,
                                 states=web.msgs["account"]["states"],
                                 alarming=watch.alarming() if watch else False)
