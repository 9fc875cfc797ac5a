"""config.toml: loading and validation.

Every error names the file and the key path (``config.toml: communities[0].grids[2].groups:
expected a list of group names``), or the environment variable that set the value
(``bot.environment``), so community staff can fix it without reading code.  Defaults are
written once, on the dataclasses; the loader reads them from there.

The module is longer than most (about 500 lines) on purpose: each section's dataclass sits next
to its reader, so a key, its default and its error message are read and changed in one place.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.environment import BadVariable, apply_environment

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A config value is missing or of the wrong form; the message names the key."""



WECHAT_ID_RE = re.compile(r"wxid_[A-Za-z0-9_-]+|[A-Za-z0-9_.-]+@(?:openim|im\.wechat)")


def looks_like_id(entry: str) -> bool:
    """Whether a configured person entry is a WeChat contact id (``wxid_…``, ``…@openim``)
    rather than a display name."""
    return WECHAT_ID_RE.fullmatch(entry) is not None


@dataclass(frozen=True)
class Person:
    """A configured staff member or admin: the name staff know them by, and their WeChat contact
    id when config gives it (``{ name = "杨先媚", wechat_id = "wxid_…" }``, or a plain string that
    is an id).  Without an id the person binds their account once (``bot.identity``); a display
    name never grants anything."""

    name: str
    wechat_id: str | None = None

    @classmethod
    def of(cls, entry: str) -> "Person":
        """A plain config string: an id (``wxid_…``) is that account; anything else is a name."""
        return cls(entry, entry if looks_like_id(entry) else None)

@dataclass(frozen=True)
class CategorySpec:
    """A need category from config and the keywords that select it."""

    name: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class WorkerSeed:
    """A worker as written in config.toml or a roster CSV, before it is stored."""

    name: str
    wechat: str
    phone: str
    skills: tuple[str, ...]
    team: str | None
    pledge_date: str | None
    status: str = "active"


@dataclass(frozen=True)
class Grid:
    name: str
    groups: tuple[str, ...]
    staff: tuple[Person, ...]
    residents: tuple[str, ...] = ()  # demo members for the local gateway only


@dataclass(frozen=True)
class Schedule:
    """When the periodic jobs run (crontab: minute hour day month weekday) and their deadlines."""

    daily_tally: str = "0 20 * * *"
    weekly_ranking: str = "0 9 * * mon"
    monthly_ranking: str = "0 9 1 * *"
    yearly_ranking: str = "0 9 1 1 *"
    escalate_after_minutes: int = 10
    admins_after_minutes: int = 30
    stale_after_hours: int = 24
    followup_after_hours: int = 2
    followup_window: tuple[str, str] = ("09:00", "21:00")
    followup_unanswered_hours: int = 24
    export_dir: str = "data/exports"


CRON_KEYS = ("daily_tally", "weekly_ranking", "monthly_ranking", "yearly_ranking")


@dataclass(frozen=True)
class RankingConfig:
    confirmed_only: bool = False
    award_top: int = 10


@dataclass(frozen=True)
class Community:
    name: str
    market_groups: tuple[str, ...]
    grids: tuple[Grid, ...]
    admins: tuple[Person, ...] = ()
    workers: tuple[WorkerSeed, ...] = ()
    schedule: Schedule = field(default_factory=Schedule)

    @property
    def market_group(self) -> str:
        return self.market_groups[0]


@dataclass(frozen=True)
class DispatchConfig:
    auto: bool = False
    max_active_per_worker: int = 3
    require_skill: bool = False
    late_mentions: int = 20  # @-mentions in one "already taken" notice; the rest are counted
    late_notices: int = 2  # "already taken" notices per order; later late claimers get none


@dataclass(frozen=True)
class PrivacyConfig:
    mask_in_market: bool = True


@dataclass(frozen=True)
class IntakeConfig:
    """``[intake]``: what the classifier's need score makes of a grid-group message
    (``handlers.classifier``), and a community's own labelled files to train on."""

    order_above: float = 0.85  # an order and the usual acknowledgement
    review_above: float = 0.25  # a 待确认 order the grid's staff confirm or dismiss; below: silence
    corpus: tuple[str, ...] = ()  # extra JSONL files in the corpus format (README: 标注语料)


@dataclass(frozen=True)
class OutboxConfig:
    min_interval: float = 1.5  # seconds between two sends to one conversation
    per_minute: int = 40  # global cap on sends per minute
    max_attempts: int = 5
    lease: float = 120.0  # seconds an instance's claim on a message lasts (a dead instance's run out)
    orphan_after: float = 30.0  # a direct message no instance knows the contact of: tried after this
    keep_sent_days: float = 30.0  # sent replies older than this are deleted (the audit log keeps what happened)
    keep_processed_days: float = 7.0  # handled message ids older than this are forgotten (re-delivery is minutes)


DM_FALLBACKS = ("market", "none")


@dataclass(frozen=True)
class WechatConfig:
    """How the bot reaches WeChat: a puppet-service gateway (see docs/wechat.md).

    An empty ``endpoint`` starts the project's local gateway in-process on 127.0.0.1:``gateway_port``.
    The environment variables WECHATY_PUPPET_SERVICE_ENDPOINT / _TOKEN override endpoint and token.
    """

    endpoint: str = ""
    token: str = "linggong-local"
    gateway_port: int = 8788  # 0 picks a free port
    dm_fallback: str = "market"  # "market": @ the worker in the market group; "none": only record it
    watchdog_deadline: float = 30.0  # no sign of life from the gateway for this long -> reconnect
    send_interval: float = 1.0  # at least this many seconds between any two sends of the account
    tls: bool = False  # connect over TLS (wechaty 1.x gateways in their default mode, hosted services)
    tls_ca_file: str = ""  # PEM file of the CA that signed the gateway's certificate ("" = system roots)
    tls_server_name: str = ""  # the name in the gateway's certificate ("" = the token's prefix before "_")
    alert_after: float = 300.0  # not logged in for this long: CRITICAL log line, red banner on the dashboard



@dataclass(frozen=True)
class FloodConfig:
    """One sender posting more than ``max_per_minute`` messages within a minute is muted for a
    while (staff and admins are exempt); see bot/flood.py."""

    max_per_minute: int = 20


@dataclass(frozen=True)
class BotConfig:
    name: str = "零工派单助手"
    timezone: str = "Asia/Shanghai"
    database: str = "data/linggong.db"
    admins: tuple[Person, ...] = ()
    # Several instances on one database (one per WeChat account; README: 区县部署):
    instance: str = ""  # this instance's name in logs and outbox claims ("" = the host name)
    communities: tuple[str, ...] = ()  # the communities it serves; () = those whose groups it is in


@dataclass(frozen=True)
class WebConfig:
    """The web pages served from the bot's process: simulator, dashboard, display board, QR ordering.

    An empty ``password`` keeps the staff dashboard closed unless LINGGONG_WEB_PASSWORD is set.
    """

    host: str = "127.0.0.1"
    port: int = 8080  # 0 picks a free port
    password: str = ""
    qr_rate_per_hour: int = 5  # QR-code orders accepted per client address per hour
    public_url: str = ""  # the address printed in QR codes ("" = where the web server serves: bot/web/address.py)
    simulator: bool = False  # serve the simulator on a non-loopback host too (then only to admins)


@dataclass(frozen=True)
class Config:
    bot: BotConfig
    communities: tuple[Community, ...]
    categories: tuple[CategorySpec, ...]
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    rankings: RankingConfig = field(default_factory=RankingConfig)
    source: str = "config.toml"
    wechat: WechatConfig = field(default_factory=WechatConfig)
    web: WebConfig = field(default_factory=WebConfig)
    flood: FloodConfig = field(default_factory=FloodConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    environment: tuple[str, ...] = ()  # the environment variables that set values (bot.environment)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.bot.timezone)

    def community(self, name: str) -> Community | None:
        return next((c for c in self.communities if c.name == name), None)



class _Reader:
    """Typed access to a TOML table with key-path error messages."""

    def __init__(self, source: str, table: dict[str, Any], path: str, origins: dict[str, str] | None = None) -> None:
        self.source, self.table, self.path = source, table, path
        self.origins = origins or {}  # config key -> the environment variable that set it

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, what: str) -> ConfigError:
        origin = self.origins.get(self._key(key))
        return ConfigError(f"{origin}: {what}" if origin else f"{self.source}: {self._key(key)}: {what}")

    def get(self, key: str, kind: type | tuple[type, ...], what: str, default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, f"missing; expected {what}")
            return default
        value = self.table[key]
        if kind in (int, float) and isinstance(value, bool):
            raise self.fail(key, f"expected {what}")
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            raise self.fail(key, f"expected {what}")
        return value

    def text(self, key: str, what: str = "a text in quotes", default: Any = ...) -> str:
        value = self.get(key, str, what, default)
        if isinstance(value, str) and not value.strip():
            raise self.fail(key, f"must not be empty; expected {what}")
        return value.strip() if isinstance(value, str) else value

    def texts(self, key: str, what: str, default: Any = ..., non_empty: bool = True) -> tuple[str, ...]:
        value = self.get(key, list, what, default)
        if not isinstance(value, list):
            return value
        if non_empty and not value:
            raise self.fail(key, f"must not be empty; expected {what}")
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, f"expected {what}")
        return tuple(v.strip() for v in value)

    def people(self, key: str, what: str, default: Any = ..., non_empty: bool = True) -> tuple[Person, ...]:
        """Names or ids as strings, or ``{ name = "…", wechat_id = "wxid_…" }`` tables."""
        value = self.get(key, list, what, default)
        if not isinstance(value, list):
            return value
        if non_empty and not value:
            raise self.fail(key, f"must not be empty; expected {what}")
        people = []
        for i, entry in enumerate(value):
            if isinstance(entry, str) and entry.strip():
                people.append(Person.of(entry.strip()))
            elif isinstance(entry, dict):
                r = _Reader(self.source, entry, f"{self._key(key)}[{i}]", self.origins)
                r.unknown({"name", "wechat_id"})
                wechat_id = r.text("wechat_id", "the person's WeChat contact id, e.g. \"wxid_…\"", None)
                people.append(Person(r.text("name", "the person's name"), wechat_id))
            else:
                raise self.fail(key, f"expected {what}")
        return tuple(people)

    def tables(self, key: str, what: str, default: Any = ...) -> list["_Reader"]:
        value = self.get(key, list, what, default)
        if not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"expected {what}")
        return [_Reader(self.source, v, f"{self._key(key)}[{i}]", self.origins) for i, v in enumerate(value)]

    def sub(self, key: str) -> "_Reader":
        value = self.get(key, dict, "a table", {})
        return _Reader(self.source, value, self._key(key), self.origins)

    def unknown(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _worker(r: _Reader) -> WorkerSeed:
    r.unknown({"name", "wechat", "phone", "skills", "team", "pledge_date"})
    name = r.text("name", "the worker's name")
    phone = r.text("phone", "an 11-digit mobile number")
    if not (phone.isdigit() and len(phone) == 11 and phone.startswith("1")):
        raise r.fail("phone", "expected an 11-digit mobile number such as 13800000000")
    return WorkerSeed(
        name=name,
        wechat=r.text("wechat", "a wechat id or nickname", name),
        phone=phone,
        skills=r.texts("skills", "a list of category names", ()),
        team=r.text("team", "a team name", None),
        pledge_date=r.text("pledge_date", "a date such as 2026-03-01", None),
    )


def _grid(r: _Reader) -> Grid:
    r.unknown({"name", "groups", "staff", "residents"})
    return Grid(
        name=r.text("name", "the grid's name"),
        groups=r.texts("groups", "a list of group names"),
        staff=r.people("staff", "a list of staff: names, wechat ids, or { name = \"…\", wechat_id = \"wxid_…\" }"),
        residents=r.texts("residents", "a list of resident names", (), non_empty=False),
    )


def _schedule(r: _Reader, base: Schedule, tz: str) -> Schedule:
    from apscheduler.triggers.cron import CronTrigger

    r.unknown(set(Schedule.__dataclass_fields__))
    values: dict[str, Any] = {}
    for key in CRON_KEYS:
        if key in r.table:
            expr = r.text(key, "a crontab such as \"0 20 * * *\" (minute hour day month weekday)")
            try:
                CronTrigger.from_crontab(expr, timezone=tz)
            except ValueError as exc:
                raise r.fail(key, f"not a valid crontab ({exc}); e.g. \"0 20 * * *\" is 20:00 every day") from None
            values[key] = expr
    for key in ("escalate_after_minutes", "admins_after_minutes", "stale_after_hours", "followup_after_hours",
                "followup_unanswered_hours"):
        if key in r.table:
            values[key] = r.get(key, int, "a whole number", None)
            if values[key] < 1:
                raise r.fail(key, "must be at least 1")
    if "followup_window" in r.table:
        window = r.texts("followup_window", "two times such as [\"09:00\", \"21:00\"]")
        if len(window) != 2 or not all(_is_hhmm(t) for t in window):
            raise r.fail("followup_window", "expected two times such as [\"09:00\", \"21:00\"]")
        values["followup_window"] = window
    if "export_dir" in r.table:
        values["export_dir"] = r.text("export_dir", "a folder path")
    return replace(base, **values)


def _is_hhmm(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) < 24 and int(parts[1]) < 60


def _community(r: _Reader, categories: set[str], schedule: Schedule, tz: str) -> Community:
    r.unknown({"name", "market_groups", "grids", "admins", "workers", "schedule"})
    community = Community(
        name=r.text("name", "the community's name"),
        market_groups=r.texts("market_groups", "a list of group names"),
        grids=tuple(_grid(g) for g in r.tables("grids", "a list of [[communities.grids]] tables")),
        admins=r.people("admins", "a list of names, wechat ids, or { name, wechat_id } tables", (), non_empty=False),
        workers=tuple(_worker(w) for w in r.tables("workers", "[[communities.workers]] tables", [])),
        schedule=_schedule(r.sub("schedule"), schedule, tz),
    )
    if not community.grids:
        raise r.fail("grids", "at least one [[communities.grids]] table is needed")
    for i, worker in enumerate(community.workers):
        for skill in worker.skills:
            if skill not in categories:
                raise r.fail(f"workers[{i}].skills", f"unknown category {skill!r}")
    return community


def parse_config(data: dict[str, Any], source: str = "config.toml",
                 environ: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed TOML document, with the environment's overrides applied (``environ``,
    default ``os.environ``), and build a Config."""
    try:
        data, origins = apply_environment(data, os.environ if environ is None else environ)
    except BadVariable as exc:
        raise ConfigError(str(exc)) from None
    root = _Reader(source, data, "", origins)
    root.unknown({"bot", "communities", "categories", "dispatch", "privacy", "outbox", "schedule", "rankings", "intake",
                  "wechat", "web", "flood"})
    b = root.sub("bot")
    b.unknown({"name", "timezone", "database", "admins", "instance", "communities"})
    bot = BotConfig(
        name=b.text("name", "the bot's name", BotConfig.name),
        timezone=b.text("timezone", "a timezone such as Asia/Shanghai", BotConfig.timezone),
        database=b.text("database", "a file path such as data/linggong.db or a postgresql:// URL", BotConfig.database),
        admins=b.people("admins", "a list of names, wechat ids, or { name, wechat_id } tables", BotConfig.admins,
                        non_empty=False),
        instance=b.get("instance", str, "a name in quotes", BotConfig.instance).strip(),
        communities=b.texts("communities", "a list of community names", BotConfig.communities, non_empty=False),
    )
    try:
        ZoneInfo(bot.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise b.fail("timezone", f"unknown timezone {bot.timezone!r}; try Asia/Shanghai") from None
    cats = []
    for c in root.tables("categories", "a list of [[categories]] tables"):
        c.unknown({"name", "keywords"})
        cats.append(CategorySpec(c.text("name", "the category's name"), c.texts("keywords", "a list of keywords")))
    if not cats:
        raise root.fail("categories", "at least one [[categories]] table is needed")
    schedule = _schedule(root.sub("schedule"), Schedule(), bot.timezone)
    communities = tuple(
        _community(c, {x.name for x in cats}, schedule, bot.timezone)
        for c in root.tables("communities", "a list of [[communities]] tables")
    )
    if not communities:
        raise root.fail("communities", "at least one [[communities]] table is needed")
    _check_unique(root, communities)
    bot = replace(bot, communities=_served(b, bot.communities, communities))
    d = root.sub("dispatch")
    d.unknown({"auto", "max_active_per_worker", "require_skill", "late_mentions", "late_notices"})
    dispatch = DispatchConfig(
        auto=d.get("auto", bool, "true or false", DispatchConfig.auto),
        max_active_per_worker=d.get("max_active_per_worker", int, "a whole number",
                                    DispatchConfig.max_active_per_worker),
        require_skill=d.get("require_skill", bool, "true or false", DispatchConfig.require_skill),
        late_mentions=d.get("late_mentions", int, "a whole number", DispatchConfig.late_mentions),
        late_notices=d.get("late_notices", int, "a whole number", DispatchConfig.late_notices),
    )
    for key in ("max_active_per_worker", "late_mentions", "late_notices"):
        if getattr(dispatch, key) < 1:
            raise d.fail(key, "must be at least 1")
    p = root.sub("privacy")
    p.unknown({"mask_in_market"})
    privacy = PrivacyConfig(mask_in_market=p.get("mask_in_market", bool, "true or false", PrivacyConfig.mask_in_market))
    o = root.sub("outbox")
    o.unknown({"min_interval", "per_minute", "max_attempts", "lease", "orphan_after", "keep_sent_days",
               "keep_processed_days"})
    outbox = OutboxConfig(
        min_interval=o.get("min_interval", float, "seconds, e.g. 1.5", OutboxConfig.min_interval),
        per_minute=o.get("per_minute", int, "a whole number", OutboxConfig.per_minute),
        max_attempts=o.get("max_attempts", int, "a whole number", OutboxConfig.max_attempts),
        lease=o.get("lease", float, "seconds, e.g. 120", OutboxConfig.lease),
        orphan_after=o.get("orphan_after", float, "seconds, e.g. 30", OutboxConfig.orphan_after),
        keep_sent_days=o.get("keep_sent_days", float, "days, e.g. 30", OutboxConfig.keep_sent_days),
        keep_processed_days=o.get("keep_processed_days", float, "days, e.g. 7", OutboxConfig.keep_processed_days),
    )
    if outbox.keep_sent_days < 1 or outbox.keep_processed_days < 1:
        raise o.fail("keep_sent_days", "keep_sent_days and keep_processed_days must be at least 1 day")
    if outbox.min_interval < 0 or outbox.per_minute < 1 or outbox.max_attempts < 1:
        raise o.fail("min_interval", "min_interval must be >= 0, per_minute and max_attempts >= 1")
    if outbox.lease < 1:
        raise o.fail("lease", "must be at least 1 second (it must outlast one send)")
    if outbox.orphan_after < 0:
        raise o.fail("orphan_after", "must be 0 or more seconds")
    rk = root.sub("rankings")
    rk.unknown({"confirmed_only", "award_top"})
    rankings = RankingConfig(confirmed_only=rk.get("confirmed_only", bool, "true or false", RankingConfig.confirmed_only),
                             award_top=rk.get("award_top", int, "a whole number", RankingConfig.award_top))
    if rankings.award_top < 1:
        raise rk.fail("award_top", "must be at least 1")
    return Config(bot, communities, tuple(cats), dispatch, privacy, outbox, rankings, source,
                  wechat=_wechat(root.sub("wechat")), web=_web(root.sub("web")),
                  flood=_flood(root.sub("flood")), intake=_intake(root.sub("intake")), environment=tuple(sorted(set(origins.values()))))


def _served(b: _Reader, listed: tuple[str, ...], communities: tuple[Community, ...]) -> tuple[str, ...]:
    """``[bot].communities`` (or ``$LINGGONG_COMMUNITIES``): all must be configured communities."""
    names = {c.name for c in communities}
    for name in listed:
        if name not in names:
            raise b.fail("communities", f"unknown community {name!r}; expected names of [[communities]] tables "
                                        f"({', '.join(sorted(names))})")
    return listed


def _wechat(r: _Reader) -> WechatConfig:
    r.unknown(set(WechatConfig.__dataclass_fields__))
    endpoint = r.get("endpoint", str, "host:port of a puppet-service gateway, or \"\" for the local one",
                     WechatConfig.endpoint)
    token = r.text("token", "a token in quotes, e.g. \"linggong-local\"", WechatConfig.token)
    port = r.get("gateway_port", int, "a port number such as 8788", WechatConfig.gateway_port)
    if not 0 <= port <= 65535:
        raise r.fail("gateway_port", "expected a port number from 1 to 65535 (0 picks a free one)")
    fallback = r.text("dm_fallback", f"one of {', '.join(DM_FALLBACKS)}", WechatConfig.dm_fallback)
    if fallback not in DM_FALLBACKS:
        raise r.fail("dm_fallback", f"expected \"market\" (@ the worker in the market group) or \"none\" "
                                    f"(only record it), not {fallback!r}")
    deadline = r.get("watchdog_deadline", float, "seconds, e.g. 30", WechatConfig.watchdog_deadline)
    if deadline < 1:
        raise r.fail("watchdog_deadline", "must be at least 1 second")
    send_interval = r.get("send_interval", float, "seconds, e.g. 1", WechatConfig.send_interval)
    if send_interval < 0:
        raise r.fail("send_interval", "must be 0 or more seconds")
    endpoint = endpoint.strip()
    if endpoint and ":" not in endpoint.split("://", 1)[-1]:
        raise r.fail("endpoint", "expected host:port such as 127.0.0.1:8788, or \"\" for the local gateway")
    tls = r.get("tls", bool, "true or false", WechatConfig.tls)
    ca_file = r.get("tls_ca_file", str, "a path in quotes, e.g. \"deploy/gateway/ca.pem\"", WechatConfig.tls_ca_file)
    ca_file = ca_file.strip()
    if ca_file and not Path(ca_file).is_file():
        raise r.fail("tls_ca_file", f"no such file: {ca_file}")
    server_name = r.get("tls_server_name", str, "a host name in quotes", WechatConfig.tls_server_name).strip()
    alert_after = r.get("alert_after", float, "seconds, e.g. 300", WechatConfig.alert_after)
    if alert_after < 0:
        raise r.fail("alert_after", "must be 0 or more seconds")
    return WechatConfig(endpoint=endpoint, token=token, gateway_port=port, dm_fallback=fallback,
                        watchdog_deadline=deadline, send_interval=send_interval, tls=tls, tls_ca_file=ca_file,
                        tls_server_name=server_name, alert_after=alert_after)


def _web(r: _Reader) -> WebConfig:
    r.unknown(set(WebConfig.__dataclass_fields__))
    host = r.text("host", "an address to listen on, e.g. \"127.0.0.1\"", WebConfig.host)
    port = r.get("port", int, "a port number such as 8080", WebConfig.port)
    if not 0 <= port <= 65535:
        raise r.fail("port", "expected a port number from 1 to 65535 (0 picks a free one)")
    password = r.get("password", str, "a password in quotes (\"\" keeps the dashboard closed)", WebConfig.password)
    rate = r.get("qr_rate_per_hour", int, "a whole number", WebConfig.qr_rate_per_hour)
    if rate < 1:
        raise r.fail("qr_rate_per_hour", "must be at least 1")
    url = r.get("public_url", str, "an address such as \"http://192.168.1.10:8080\", or \"\"", WebConfig.public_url).strip()
    if url and (not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1].strip("/")) == 0):
        raise r.fail("public_url", f"expected an address starting with http:// or https://, not {url!r}")
    simulator = r.get("simulator", bool, "true or false", WebConfig.simulator)
    return WebConfig(host=host, port=port, password=password, qr_rate_per_hour=rate,
                     public_url=url.rstrip("/"), simulator=simulator)


def _flood(r: _Reader) -> FloodConfig:
    r.unknown(set(FloodConfig.__dataclass_fields__))
    limit = r.get("max_per_minute", int, "a whole number of messages, e.g. 20", FloodConfig.max_per_minute)
    if limit < 1:
        raise r.fail("max_per_minute", "must be at least 1 (messages one person may send in a minute)")
    return FloodConfig(max_per_minute=limit)


def _intake(r: _Reader) -> IntakeConfig:
    r.unknown(set(IntakeConfig.__dataclass_fields__))
    order = r.get("order_above", float, "a number from 0 to 1, e.g. 0.8", IntakeConfig.order_above)
    review = r.get("review_above", float, "a number from 0 to 1, e.g. 0.25", IntakeConfig.review_above)
    if not 0 < order <= 1:
        raise r.fail("order_above", "expected a number above 0 and at most 1, e.g. 0.8")
    if not 0 < review <= order:
        raise r.fail("review_above", f"expected a number above 0 and at most order_above ({order}), e.g. 0.25")
    corpus = r.texts("corpus", "a list of JSONL file paths", (), non_empty=False)
    for i, path in enumerate(corpus):
        if not Path(path).is_file():
            raise r.fail("corpus", f"file {path!r} (item {i + 1}) not found")
    return IntakeConfig(order_above=order, review_above=review, corpus=corpus)


def _check_unique(root: _Reader, communities: tuple[Community, ...]) -> None:
    seen: dict[str, str] = {}
    names = set()
    for i, c in enumerate(communities):
        if c.name in names:
            raise root.fail(f"communities[{i}].name", f"duplicate community {c.name!r}")
        names.add(c.name)
        keys = [(f"communities[{i}].market_groups", g) for g in c.market_groups]
        keys += [(f"communities[{i}].grids[{j}].groups", g) for j, gr in enumerate(c.grids) for g in gr.groups]
        for key, group in keys:
            if group in seen:
                raise root.fail(key, f"group {group!r} is already used at {seen[group]}")
            seen[group] = key


def load_config(path: str | Path | None = None) -> Config:
    """Load config.toml from ``path``, the working directory, or the project root."""
    candidates = [Path(path)] if path else [Path("config.toml"), PROJECT_ROOT / "config.toml"]
    for candidate in candidates:
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{candidate}: not valid TOML: {exc}") from None
            return parse_config(data, str(candidate))
    raise ConfigError(f"{candidates[0]}: file not found")
