"""What several commands share: the database option, dates and communities given on the command
line, and the words they print (templates/labels.toml [cli]; errors go to stderr as 「错误：…」)."""

from __future__ import annotations

import argparse
import errno
import sys
from datetime import date
from typing import Any

from bot.cli.parsing import ERROR, pad, text_width
from bot.clock import Clock
from bot.config import Community, Config
from bot.render import load_labels

DB_HELP = "数据库文件，或 postgresql:// 地址（默认：配置文件里的 bot.database）"
CONFIG_HELP = "配置文件（默认：当前文件夹里的 config.toml）；写在命令前面或后面都可以"
LABELS = load_labels()
MESSAGES: dict[str, Any] = LABELS["cli"]


class UsageError(Exception):
    """A command-line value is not of the right form; the message (in Chinese) names the option."""


def say(key: str, **data: Any) -> str:
    """The message ``key`` of templates/labels.toml [cli], filled in."""
    return MESSAGES[key].format(**data)


def fail(message: str) -> None:
    """Print an error the way every command does: 「错误：…」 on stderr."""
    print(ERROR.format(message=message), file=sys.stderr)


def reason(exc: OSError) -> str:
    """Why a file or port could not be used, in Chinese when the error number is a common one."""
    name = errno.errorcode.get(exc.errno or 0, "")
    return MESSAGES["reasons"].get(name) or exc.strerror or str(exc)


def table(rows: list[list[str]], gap: int = 2) -> str:
    """``rows`` (the first is the header) as aligned columns; a Chinese character counts as two
    columns, as a terminal shows it.  The last column is not padded."""
    widths = [max(text_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("".join(pad(cell, w + gap) for cell, w in zip(row[:-1], widths)) + row[-1]
                     for row in rows)


def add_db(parser: argparse.ArgumentParser, help: str = DB_HELP) -> None:
    parser.add_argument("--db", metavar="数据库", help=help)


def database(args: argparse.Namespace, config: Config) -> str:
    """The database a command works on: ``--db``, else the configured one."""
    return args.db or config.bot.database


def parse_day(value: str | None, option: str, clock: Clock) -> date:
    if value is None:
        return clock.now().date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(say("bad_date", option=option, value=value)) from None


def pick_community(config: Config, name: str | None) -> Community:
    if name is None:
        return config.communities[0]
    community = config.community(name)
    if community is None:
        raise UsageError(say("unknown_community", name=name, source=config.source,
                             names="、".join(c.name for c in config.communities)))
    return community
