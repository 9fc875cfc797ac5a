"""What every web route needs: the bot's App, who is who in config.toml, and formatting helpers.

One ``WebState`` lives in ``web_app.extensions["linggong"]``; routes reach it with ``state()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from quart import current_app

from bot.config import Community, Config
from bot.render import load_labels

if TYPE_CHECKING:
    from bot.account import AccountWatch
    from bot.app import App
    from bot.gateway import Gateway
    from bot.web.security import RateLimiter
    from bot.web.simhub import SimHub

PASSWORD_ENV = "LINGGONG_WEB_PASSWORD"  # named on the page that says how to open the dashboard

ROLES = ("admin", "staff", "worker", "resident")  # the simulator lists people in this order


def dashboard_password(config: Config) -> str:
    """The dashboard password, a second factor after the WeChat code: ``[web].password`` or
    LINGGONG_WEB_PASSWORD ("" = the code alone)."""
    return config.web.password


@dataclass
class WebState:
    app: "App"
    password: str
    qr_limiter: "RateLimiter"
    login_limiter: "RateLimiter"
    sessions: "Sessions"
    account_limiter: "RateLimiter"  # failed logins per staff name, wherever they come from
    gateway: "Gateway | None" = None
    hub: "SimHub | None" = None
    account: "AccountWatch | None" = None  # the WeChat account's state (bot/account.py)
    public_url: str = ""  # what phones open (bot/web/address.py); the runtime sets it once serving
    labels: dict[str, Any] = field(default_factory=load_labels)  # read once per web app

    @property
    def msgs(self) -> dict[str, Any]:
        """The web pages' words: ``[web.*]`` of templates/labels.toml, e.g. ``msgs["login"]["bad_password"]``."""
        return self.labels["web"]

    @property
    def config(self) -> Config:
        return self.app.config

    def now(self) -> datetime:
        return self.app.clock.now()

    # who is who -------------------------------------------------------------------
    def staff_names(self) -> list[tuple[str, str]]:
        """Everyone who may log in to the dashboard: (name, what they are), config order."""
        msgs = self.msgs
        out: dict[str, str] = {}
        for person in self.config.bot.admins:
            out.setdefault(person.name, msgs["staff_names"]["admin"])
        for community in self.config.communities:
            for person in community.admins:
                out.setdefault(person.name, msgs["staff_names"]["community_admin"].format(community=community.name))
            for grid in community.grids:
                for person in grid.staff:
                    out.setdefault(person.name, msgs["staff_names"]["grid_staff"].format(community=community.name,
                                                                                        grid=grid.name))
        return list(out.items())

    def is_staff_name(self, name: str) -> bool:
        """A configured person who has a contact id (bound, or given in config): only they log in."""
        return any(name == n for n, _ in self.staff_names()) and self.contact_of(name) is not None

    def contact_of(self, name: str) -> str | None:
        """The contact id the dashboard acts as for configured person ``name`` (None: unbound)."""
        identities = self.app.directory.identities
        for scope, person in identities.people():
            if person.name == name and (contact := identities.contact_of(scope, person)):
                return contact
        return None

    def communities_of(self, name: str) -> list[Community]:
        """The communities whose orders this staff member may see."""
        contact = self.contact_of(name)
        return [c for c in self.config.communities if contact and self.app.directory.is_staff(c, contact)]

    def acting_community(self, name: str) -> Community | None:
        """The community a direct message from ``name`` acts on, exactly as the app decides it."""
        contact = self.contact_of(name)
        found = self.app.directory.staff_community(contact) if contact else None
        if found is None and len(self.config.communities) == 1:
            return self.config.communities[0]
        return found

    def community(self, name: str | None) -> Community | None:
        if name is None:
            return self.config.communities[0]
        return self.config.community(name)

    def role_of(self, contact_id: str) -> str:
        """admin / staff / worker / resident, for the simulator's speaker list."""
        directory = self.app.directory
        if directory.is_admin(contact_id) or any(directory.identities.is_community_admin(c, contact_id)
                                                 for c in self.config.communities):
            return "admin"
        for community in self.config.communities:
            if directory.staff_grids(community, contact_id):
                return "staff"
            if any(w.wechat == contact_id for w in community.workers):
                return "worker"
        return "resident"

    # formatting -------------------------------------------------------------------
    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.config.tz)

    def role_name(self, role: str) -> str:
        return self.msgs["roles"][role]

    def status_name(self, status: str) -> str:
        return self.labels["status"].get(status, status)


def state() -> WebState:
    return current_app.extensions["linggong"]
