"""The web side, served from the bot's own process with Quart.

- ``/`` the WeChat-like simulator (only with the local gateway), otherwise a start page;
- ``/dash/…`` the staff dashboard (login with a code the bot sends to the person's WeChat);
- ``/board`` the station's display board (public, no personal data);
- ``/order/<社区>`` QR-code ordering and ``/posters`` the printable posters.

``create_web_app(app, gateway=…)`` builds the Quart app around a running ``App``;
``serve_web(web_app, host, port, shutdown_event)`` serves it with hypercorn in the current
event loop until the event is set.  ``bot.web.stack.local_stack`` runs everything together.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from typing import TYPE_CHECKING

import jinja2
from quart import Quart, redirect, render_template, request, url_for

from bot.render import TEMPLATES_DIR
from bot.web.address import public_url
from bot.web.security import RateLimiter, Sessions, check_csrf, csrf_token, current_staff, load_session
from bot.web.state import WebState, dashboard_password

if TYPE_CHECKING:
    from bot.account import AccountWatch
    from bot.app import App
    from bot.gateway import Gateway

__all__ = ["create_web_app", "open_listener", "serve_web"]

log = logging.getLogger(__name__)

WEB_TEMPLATES = TEMPLATES_DIR / "web"


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def simulator_mode(config: "Config") -> str:
    """Who may open the simulator, which shows every chat and direct message: "open" on a
    loopback address (the station PC itself); "admin" elsewhere with ``[web] simulator = true``
    (an admin's dashboard login); "off" otherwise, so a station network never sees it by accident."""
    host = config.web.host
    if host in LOOPBACK or host.startswith("127."):
        return "open"
    return "admin" if config.web.simulator else "off"


def create_web_app(app: "App", *, gateway: "Gateway | None" = None, password: str | None = None,
                   simulator: str = "open", account: "AccountWatch | None" = None) -> Quart:
    """The Quart app for ``app``.  With ``gateway`` the simulator is served too, as
    ``simulator`` (``simulator_mode``) allows: "open", "admin" (admins logged in) or "off".

    ``password`` overrides the configured one (``[web].password`` / LINGGONG_WEB_PASSWORD).
    The simulator reads the gateway's live world (people added while it runs included).
    ``account`` is the WeChat account's watch (bot/account.py): its state on the admins' WeChat
    page, and a red banner on every dashboard page while it has been down too long.
    """
    from bot.web import account as account_page
    from bot.web import qrstatus
    from bot.web import bindings, board, dashboard, login, orderform, posters, stats, workers  # noqa: F401 (login)

    web = Quart(__name__, template_folder=str(WEB_TEMPLATES), static_folder="static",
                static_url_path="/static")
    # User text is escaped in every web template (chat templates are plain text and are not).
    web.jinja_options = {"autoescape": True, "undefined": jinja2.StrictUndefined, "trim_blocks": True,
                         "lstrip_blocks": True}
    web.secret_key = secrets.token_bytes(32)  # sessions last as long as the process
    web.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=app.config.web.public_url.startswith("https://"),
                      MAX_CONTENT_LENGTH=2 * 1024 * 1024, SEND_FILE_MAX_AGE_DEFAULT=300)
    clock = app.clock
    hub = None
    if gateway is not None and simulator != "off":
        from bot.web.simhub import SimHub

        hub = SimHub(gateway, app.clock)
    web_state = web.extensions["linggong"] = WebState(
        app=app,
        password=dashboard_password(app.config) if password is None else password,
        qr_limiter=RateLimiter(app.config.web.qr_rate_per_hour, 3600, clock),
        login_limiter=RateLimiter(10, 900, clock),
        sessions=None, account_limiter=RateLimiter(10, 900, clock),  # type: ignore[arg-type]
        gateway=gateway, hub=hub, account=account,
        public_url=public_url(app.config.web.public_url, app.config.web.host, app.config.web.port),
    )
    web_state.sessions = Sessions(web_state)
    serving = web.extensions["linggong_serving"] = asyncio.Event()

    @web.before_serving
    async def mark_serving() -> None:
        serving.set()

    web.before_request(load_session)
    web.before_request(check_csrf)
    web.jinja_env.globals.update(csrf_token=csrf_token, current_staff=current_staff,
                                 bot_name=app.config.bot.name, has_simulator=hub is not None,
                                 wechat_alarm=account_page.alarm)
    for module in (dashboard, workers, stats, board, orderform, posters, bindings, account_page, qrstatus):
        web.register_blueprint(module.bp)
    if hub is not None:
        from bot.web import simulator as sim

        web.register_blueprint(sim.bp)
        if simulator == "admin":
            @web.before_request
            async def simulator_for_admins():
                if request.blueprint == "sim":
                    return await sim.admins_only()
                return None
        web.before_serving(_start_hub(hub))
        web.after_serving(hub.stop)

    @web.get("/")
    async def index():
        if hub is not None:
            return redirect(url_for("sim.page"))
        return await render_template("index.html", communities=app.config.communities)

    @web.errorhandler(404)
    async def not_found(_error):
        msgs = web_state.msgs
        return await render_template("message.html", title=msgs["common"]["no_such_page_title"],
                                     message=msgs["common"]["no_such_page"]), 404

    return web


def _start_hub(hub):
    async def start() -> None:
        hub.start()
    return start


def open_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one; read it with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def serve_web(web_app: Quart, host: str, port: int, shutdown_event: asyncio.Event, *,
                    sock: socket.socket | None = None) -> None:
    """Serve ``web_app`` on ``host:port`` (or an already listening ``sock``) until ``shutdown_event``.

    Open server-sent-event streams end as soon as the event is set; other requests get a
    short grace period.
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config as HypercornConfig

    sock = sock or open_listener(host, port)
    config = HypercornConfig()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn takes the socket over
    config.accesslog = None
    config.errorlog = logging.getLogger("linggong.web")
    config.graceful_timeout = 2.0
    config.include_server_header = False
    closing = web_app.extensions.setdefault("linggong_closing", asyncio.Event())

    async def trigger() -> None:
        await shutdown_event.wait()
        closing.set()

    await serve(web_app, config, shutdown_trigger=trigger)
