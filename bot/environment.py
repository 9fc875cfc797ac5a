"""The environment variables that override config.toml: one table, applied in one place.

``apply_environment`` writes each variable that is set into the parsed TOML document at the key
it overrides, before the document is validated, so a value from the environment is checked
exactly like one from the file; an error in it names the variable.  A deployment runs one
config.toml on several machines and several accounts this way (systemd ``EnvironmentFile``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class BadVariable(ValueError):
    """An environment variable has a value of the wrong form; the message names it."""


@dataclass(frozen=True)
class EnvVar:
    name: str
    key: str  # the config key it overrides: "table.key"
    kind: str = "text"  # "text", "port" (a whole number) or "list" (comma-separated)
    meaning: str = ""


ENVIRONMENT = (
    EnvVar("LINGGONG_DATABASE", "bot.database", meaning="the database: a SQLite file or a postgresql:// URL"),
    EnvVar("LINGGONG_INSTANCE", "bot.instance", meaning="this instance's name in logs and outbox claims"),
    EnvVar("LINGGONG_COMMUNITIES", "bot.communities", "list", "the communities this instance serves"),
    EnvVar("LINGGONG_WEB_PORT", "web.port", "port", "the web pages' port (one per process on a machine)"),
    EnvVar("LINGGONG_WEB_PASSWORD", "web.password", meaning="the staff dashboard's password"),
    EnvVar("WECHATY_PUPPET_SERVICE_ENDPOINT", "wechat.endpoint", meaning="host:port of the WeChat gateway"),
    EnvVar("WECHATY_PUPPET_SERVICE_TOKEN", "wechat.token", meaning="the WeChat gateway's token"),
)


def _value(var: EnvVar, raw: str) -> Any:
    if var.kind == "port":
        if not raw.isdigit():
            raise BadVariable(f"{var.name}: expected a port number such as 8081, not {raw!r}")
        return int(raw)
    if var.kind == "list":
        return list(dict.fromkeys(n.strip() for n in raw.replace("，", ",").split(",") if n.strip()))
    return raw


def apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``data`` (a parsed config.toml, not changed) with the set variables applied, and which
    config keys came from which variable (``{"web.port": "LINGGONG_WEB_PORT"}``)."""
    out = copy.deepcopy(data)
    origins: dict[str, str] = {}
    for var in ENVIRONMENT:
        raw = environ.get(var.name, "").strip()
        if not raw:
            continue
        table, key = var.key.split(".")
        section = out.setdefault(table, {})
        if isinstance(section, dict):
            section[key] = _value(var, raw)
            origins[var.key] = var.name
    return out, origins
