"""What several commands share: the database option, dates and communities given on the command line."""

from __future__ import annotations

import argparse
from datetime import date

from bot.clock import Clock
from bot.config import Community, Config

DB_HELP = "database file or postgresql:// URL (default: bot.database from config)"


class UsageError(Exception):
    """A command-line value is not of the right form; the message names the option."""


def add_db(parser: argparse.ArgumentParser, help: str = DB_HELP) -> None:
    parser.add_argument("--db", help=help)


def database(args: argparse.Namespace, config: Config) -> str:
    """The database a command works on: ``--db``, else the configured one."""
    return args.db or config.bot.database


def parse_day(value: str | None, option: str, clock: Clock) -> date:
    if value is None:
        return clock.now().date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r}: expected a date such as 2026-11-23") from None


def pick_community(config: Config, name: str | None) -> Community:
    if name is None:
        return config.communities[0]
    community = config.community(name)
    if community is None:
        names = ", ".join(c.name for c in config.communities)
        raise UsageError(f"--community {name!r} is not in {config.source} (communities: {names})")
    return community
