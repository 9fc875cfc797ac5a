"""The WeChat account's state, visible: waiting for a QR scan, logged in as …, logged out, or the
gateway unreachable, since when.

``AccountWatch`` is told what the WeChat adapter sees (``scanned``, ``logged_in``, ``lost``),
keeps the current ``AccountStatus``, and writes it to the database (meta key
``wechat.status:<key>``) when it changes and every ``HEARTBEAT`` seconds, so ``linggong status``
(another process) can tell a monitor whether this instance is logged in and alive.  When the
account has not been logged in for longer than ``alert_after`` seconds it logs at CRITICAL, once
per episode, and the dashboard shows a red banner (bot/web/account.py).  The login QR code goes to
the console (printed as text for the person at the station PC) and to the admins' dashboard page.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from bot.background import Background
from bot.clock import Clock
from storage.repository import Repository

log = logging.getLogger("linggong.account")

META_PREFIX = "wechat.status:"
HEARTBEAT = 30.0  # seconds between writes of an unchanged state (linggong status: alive if recent)
STATES = ("connecting", "waiting_scan", "logged_in", "logged_out", "unreachable")


@dataclass(frozen=True)
class AccountStatus:
    state: str = "connecting"
    since: float = 0.0  # when this state began (epoch seconds)
    checked_at: float = 0.0  # when the running bot last confirmed it
    name: str = ""  # the account's WeChat name, once logged in
    contact_id: str = ""
    qrcode: str = ""  # what the login QR code encodes, while waiting for a scan
    detail: str = ""  # why it was lost, the scan status, ...

    @property
    def ok(self) -> bool:
        return self.state == "logged_in"

    def down_for(self, now: float) -> float:
        """Seconds the account has not been logged in (0 while it is)."""
        return 0.0 if self.ok else max(0.0, now - self.since)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AccountStatus:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def qr_text(content: str) -> str:
    """The QR code as text for a terminal (two characters per module, readable by phones)."""
    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(content)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


class AccountWatch:
    def __init__(self, repo: Repository, clock: Clock, key: str, *, alert_after: float,
                 console: Callable[[str], Any] | None = None) -> None:
        self.repo, self.clock, self.key, self.alert_after = repo, clock, key, alert_after
        self.console = console  # prints the QR code for whoever is at the station PC
        now = clock.now().timestamp()
        self.status = AccountStatus(since=now, checked_at=now)
        self._alerted = False
        self._dirty = asyncio.Event()
        self._writer = Background(self._run, "account-watch")

    # what the adapter sees ------------------------------------------------------------
    def scanned(self, qrcode: str, status: str) -> None:
        fresh = qrcode != self.status.qrcode
        self._set("waiting_scan", qrcode=qrcode, detail=str(status))
        if fresh and qrcode and self.console is not None:
            self.console(f"{qrcode}\n{qr_text(qrcode)}")

    def logged_in(self, name: str, contact_id: str) -> None:
        self._set("logged_in", name=name, contact_id=contact_id, qrcode="", detail="")

    def lost(self, reason: str, *, logged_out: bool = False) -> None:
        """The connection ended (``reason``), or WeChat logged the account out."""
        if logged_out:
            self._set("logged_out", qrcode="", detail=reason)
        elif self.status.state in ("logged_in", "connecting"):
            self._set("unreachable", detail=reason)
        else:  # still waiting for a scan, or logged out: keep that (and since when)
            self.status = replace(self.status, detail=reason)
            self._dirty.set()

    def _set(self, state: str, **fields: Any) -> None:
        now = self.clock.now().timestamp()
        since = self.status.since if state == self.status.state else now
        if state == "logged_in":
            if self._alerted:
                log.warning("WeChat account %s is logged in again", fields.get("name") or "")
            self._alerted = False
        self.status = replace(self.status, state=state, since=since, checked_at=now, **fields)
        self._dirty.set()

    # running ---------------------------------------------------------------------------
    def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), HEARTBEAT)
            self._dirty.clear()
            await self.check()

    async def check(self) -> None:
        """Record the state (and that the bot is alive); alert once it has been down too long."""
        now = self.clock.now().timestamp()
        self.status = replace(self.status, checked_at=now)
        try:
            async with self.repo.transaction() as tx:
                await tx.set_meta(META_PREFIX + self.key, self.status.to_json())
        except Exception:
            log.exception("cannot record the WeChat account's state")
        down = self.status.down_for(now)
        if down > self.alert_after and not self._alerted:
            self._alerted = True
            log.critical("WeChat account not logged in for %.0f minutes (%s%s): replies wait in the outbox; "
                         "scan the QR code on the dashboard's WeChat page or check the gateway", down / 60,
                         self.status.state, f": {self.status.detail}" if self.status.detail else "")

    def alarming(self) -> bool:
        return self.status.down_for(self.clock.now().timestamp()) > self.alert_after


async def read_statuses(repo: Repository) -> dict[str, AccountStatus]:
    """Every instance's recorded account state (``linggong status``)."""
    async with repo.transaction() as tx:
        rows = await tx.meta_with_prefix(META_PREFIX)
    out = {}
    for key, value in rows.items():
        with contextlib.suppress(ValueError, TypeError):
            out[key.removeprefix(META_PREFIX)] = AccountStatus.from_json(value)
    return out
