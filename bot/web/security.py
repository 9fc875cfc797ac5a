"""CSRF tokens, the staff login, and per-client rate limits.

- Every POST needs the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``);
  without it the request is refused before any route runs, so nothing changes.
- Dashboard pages need a logged-in staff member (a server-side session: the cookie only names it,
  so logout and an idle timeout end it); with no password configured they only say
  how to set one.
- Rate limits count in the app's clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections import deque
from typing import Any, Awaitable, Callable

from quart import jsonify, redirect, render_template, request, session, url_for

from bot.clock import Clock
from bot.web.state import PASSWORD_ENV, state

CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not token:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


async def check_csrf() -> Any:
    """``before_request``: refuse a POST whose token does not match this session's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    expected = session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        if request.is_json:
            body = await request.get_json(silent=True)
            sent = body.get(CSRF_FIELD) if isinstance(body, dict) else None
        else:
            sent = (await request.form).get(CSRF_FIELD)
    if expected and sent and hmac.compare_digest(str(expected), str(sent)):
        return None
    msgs = state().msgs
    message = msgs["security"]["bad_csrf"]
    if wants_json():
        return jsonify({"ok": False, "errors": {"csrf": message}}), 400
    return await render_template("message.html", title=msgs["security"]["refresh_title"], message=message), 400


IDLE_SECONDS = 8 * 3600  # a dashboard session ends after this long without a request


class Sessions:
    """Dashboard sessions kept by the server: the cookie only names one (a random id), so logging
    out, an idle timeout or a reset binding ends it for good, whatever copy of the cookie exists."""

    def __init__(self, clock: Clock, idle: float = IDLE_SECONDS) -> None:
        self.clock, self.idle = clock, idle
        self._live: dict[str, tuple[str, float]] = {}  # session id -> (staff name, last seen)

    def start(self, name: str) -> str:
        sid = secrets.token_urlsafe(24)
        self._live[sid] = (name, self.clock.now().timestamp())
        return sid

    def who(self, sid: str | None) -> str | None:
        if not sid or sid not in self._live:
            return None
        name, seen = self._live[sid]
        now = self.clock.now().timestamp()
        if now - seen > self.idle:
            del self._live[sid]
            return None
        self._live[sid] = (name, now)
        return name

    def end(self, sid: str | None) -> None:
        self._live.pop(sid or "", None)


def current_staff() -> str | None:
    """The logged-in staff member: a live server-side session of a person who still has an id."""
    web = state()
    name = web.sessions.who(session.get("sid"))
    if name and web.password and web.is_staff_name(name):
        return name
    return None


def login_required(view: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state().password:
            return await render_template("dash_closed.html", env=PASSWORD_ENV), 403
        if current_staff() is None:
            if wants_json():
                return jsonify({"ok": False, "errors": {"login": state().msgs["security"]["login_first"]}}), 401
            return redirect(url_for("dash.login", next=request.full_path.rstrip("?")))
        return await view(*args, **kwargs)

    return wrapper


def password_ok(given: str) -> bool:
    expected = state().password
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def client_key() -> str:
    """The client's address as the server saw it (behind a proxy: the proxy's)."""
    return request.remote_addr or "unknown"


class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds of the given clock."""

    def __init__(self, limit: int, window: float, clock: Clock, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._hits: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self.clock.now().timestamp()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:  # forget idle clients rather than grow without bound
                for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
                    del self._hits[stale]
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def allowed(self, key: str) -> bool:
        return len(self._recent(key)) < self.limit

    def retry_after(self, key: str) -> float:
        hits = self._recent(key)
        if len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[0] + self.window - self.clock.now().timestamp())

    def hit(self, key: str) -> None:
        self._recent(key).append(self.clock.now().timestamp())
