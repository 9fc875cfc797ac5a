"""Dashboard login, confirmed in WeChat: choose who you are, type the code the bot sent you.

1. ``GET/POST /login``: the person chooses their name (only configured people with a bound
   WeChat id are listed) and, when the dashboard has a password, gives it too; the bot then sends
   a six-digit code by direct message to that person's bound id.
2. ``POST /login/code``: the code from their own WeChat logs them in (a server-side session).

Wrong passwords and codes are limited per address and per account; ``next`` accepts local paths
only; logins, failed codes and logouts are audited with the client's address.
"""

from __future__ import annotations

from quart import redirect, render_template, request, session, url_for

from bot.web.dashboard import bp
from bot.web.security import (
    CODE_SECONDS,
    check_login_code,
    client_key,
    password_ok,
    send_login_code,
)
from bot.web.state import state


def _next_url() -> str:
    next_url = request.args.get("next", "")
    if not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return url_for("dash.orders")
    return next_url


async def _page(step: str, errors: dict[str, str], chosen: str = "", status: int = 200, note: str = ""):
    web = state()
    return await render_template("login.html", step=step, staff_names=web.staff_names(), errors=errors,
                                 chosen=chosen, next=_next_url(), with_password=bool(web.password),
                                 note=note), status


def _limited(name: str) -> bool:
    web = state()
    return not web.login_limiter.allowed(client_key()) or not web.account_limiter.allowed(name)


def _failed(name: str) -> None:
    web = state()
    web.login_limiter.hit(client_key())
    web.account_limiter.hit(name)


@bp.route("/login", methods=["GET", "POST"])
async def login():
    web = state()
    msgs = web.msgs
    if request.method == "GET":
        return await _page("who", {})
    form = await request.form
    name = (form.get("staff") or "").strip()
    errors: dict[str, str] = {}
    if not web.is_staff_name(name):
        errors["staff"] = msgs["login"]["choose_name"]
    elif _limited(name):
        errors["password"] = msgs["login"]["too_many_tries"]
    elif not password_ok(form.get("password") or ""):
        _failed(name)
        errors["password"] = msgs["login"]["bad_password"]
    if errors:
        return await _page("who", errors, name, 400)
    session.pop("sid", None)
    session["login"] = await send_login_code(web, name, client_key())
    session["login_name"] = name
    return await _page("code", {}, name, note=msgs["login"]["code_sent"].format(name=name, minutes=CODE_SECONDS // 60))


@bp.post("/login/code")
async def login_code():
    web = state()
    msgs = web.msgs
    name = session.get("login_name") or ""
    if _limited(name):
        return await _page("code", {"code": msgs["login"]["too_many_tries"]}, name, 429)
    person, problem = await check_login_code(web, session.get("login") or "", (await request.form).get("code") or "")
    if problem == "bad_code":
        _failed(name)
        return await _page("code", {"code": msgs["login"]["bad_code"]}, name, 400)
    if person is None:
        session.pop("login", None)
        return await _page("who", {"staff": msgs["login"]["code_expired"]}, name, 400)
    contact = web.contact_of(person) or ""
    session.clear()
    session["sid"] = await web.sessions.start(person, contact, client_key())  # the cookie names it only
    return redirect(_next_url())


@bp.post("/logout")
async def logout():
    await state().sessions.end(session.get("sid"), client_key())  # a kept copy of the cookie is worth nothing now
    session.clear()
    return redirect(url_for("dash.login"))
