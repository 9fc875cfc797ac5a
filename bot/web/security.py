"""CSRF tokens, the staff login, and per-client rate limits.

- Every POST needs the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``);
  without it the request is refused before any route runs, so nothing changes.
- Dashboard pages need a logged-in staff member.  Logging in takes a one-time code the bot sends
  to the person's bound WeChat id (and the dashboard password too, when one is set); the session
  is kept in the database and the cookie only names it, so logout, an idle timeout or a reset
  binding end it.
- Rate limits count in the app's clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from quart import g, jsonify, redirect, render_template, request, session, url_for

from bot.clock import Clock
from bot.web.state import state
from handlers.base import Reply

if TYPE_CHECKING:
    from bot.web.state import WebState

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
TOUCH_EVERY = 60  # a session's last-seen time is written at most once a minute
CODE_SECONDS = 300  # a login code from WeChat is good for five minutes
CODE_TRIES = 5  # wrong codes before the login has to start again


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _community(web: "WebState", name: str) -> str:
    found = web.acting_community(name)
    return found.name if found else ""


class Sessions:
    """Dashboard sessions kept in the database: the cookie only names one (a random id, of which the
    database keeps a hash), so logging out, an idle timeout or a reset binding ends it for good,
    whatever copy of the cookie exists, and a restart of the bot keeps staff logged in."""

    def __init__(self, web: "WebState", idle: float = IDLE_SECONDS) -> None:
        self.web, self.idle = web, idle

    def _now(self) -> float:
        return self.web.now().timestamp()

    async def start(self, name: str, contact: str, address: str) -> str:
        sid, now = secrets.token_urlsafe(24), self._now()
        async with self.web.app.repo.transaction() as tx:
            await tx.add_web_session({"sid_hash": _digest(sid), "person": name, "contact_id": contact,
                                      "address": address, "created_at": now, "seen_at": now})
            await tx.add_event(None, _community(self.web, name), now, name, "web_login", address)
        return sid

    async def who(self, sid: str | None) -> str | None:
        """The person logged in with ``sid``: a live session of someone still bound to the same id."""
        if not sid:
            return None
        now = self._now()
        async with self.web.app.repo.transaction() as tx:
            row = await tx.web_session(_digest(sid))
            if row is None:
                return None
            if now - row["seen_at"] > self.idle or self.web.contact_of(row["person"]) != row["contact_id"]:
                await tx.end_web_session(row["sid_hash"], now)
                return None
            if now - row["seen_at"] >= TOUCH_EVERY:
                await tx.touch_web_session(row["sid_hash"], now)
        return row["person"]

    async def end(self, sid: str | None, address: str) -> None:
        if not sid:
            return
        now = self._now()
        async with self.web.app.repo.transaction() as tx:
            row = await tx.web_session(_digest(sid))
            if row is not None:
                await tx.end_web_session(row["sid_hash"], now)
                await tx.add_event(None, _community(self.web, row["person"]), now, row["person"], "web_logout", address)


async def send_login_code(web: "WebState", name: str, address: str) -> str:
    """Send ``name`` a one-time login code by direct message to their bound id; the pending login's id."""
    contact = web.contact_of(name)
    assert contact is not None  # only bound people are offered
    code, login_id, now = f"{secrets.randbelow(10**6):06d}", secrets.token_urlsafe(18), web.now()
    community = web.acting_community(name)
    async with web.app.repo.transaction() as tx:
        await tx.add_web_login({"id": login_id, "person": name, "contact_id": contact, "code_hash": _digest(code),
                                "address": address, "created_at": now.timestamp(),
                                "expires_at": now.timestamp() + CODE_SECONDS})
        await web.app.enqueue(tx, [Reply("login_code", {"code": code, "minutes": CODE_SECONDS // 60,
                                                        "address": address}, contact=contact)], now, community)
    web.app.wake()
    return login_id


async def check_login_code(web: "WebState", login_id: str, code: str) -> tuple[str | None, str | None]:
    """(person, None) when ``code`` is the one sent for ``login_id`` (used up), else (None, reason):
    "bad_code", or "expired" (expired, too many tries, or the binding changed: start again)."""
    now = web.now().timestamp()
    async with web.app.repo.transaction() as tx:
        row = await tx.web_login(login_id) if login_id else None
        if row is None or row["expires_at"] < now or row["tries"] >= CODE_TRIES \
                or web.contact_of(row["person"]) != row["contact_id"]:
            if row is not None:
                await tx.remove_web_login(login_id)
            return None, "expired"
        if not hmac.compare_digest(_digest(code.strip()), row["code_hash"]):
            await tx.count_web_login_try(login_id)
            await tx.add_event(None, _community(web, row["person"]), now, row["person"], "web_login_failed",
                               client_key())
            return None, "bad_code"
        await tx.remove_web_login(login_id)
    return row["person"], None


def current_staff() -> str | None:
    """The logged-in staff member (resolved once per request by ``load_session``)."""
    return g.get("staff")


async def load_session() -> None:
    """Before every request: who the session cookie names, if anyone (a database lookup only when
    there is a cookie)."""
    g.staff = await state().sessions.who(session.get("sid")) if session.get("sid") else None


def login_required(view: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_staff() is None:
            if wants_json():
                return jsonify({"ok": False, "errors": {"login": state().msgs["security"]["login_first"]}}), 401
            return redirect(url_for("dash.login", next=request.full_path.rstrip("?")))
        return await view(*args, **kwargs)

    return wrapper


def password_ok(given: str) -> bool:
    """The dashboard password, when one is set (a second factor after the WeChat code)."""
    expected = state().password
    return not expected or hmac.compare_digest(given.encode(), expected.encode())


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
