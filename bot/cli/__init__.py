"""The ``linggong`` command line (also ``python -m bot``): one module per command.

Each command module has ``register(sub, common)``, which adds its parser(s) with
``set_defaults(func=...)``; ``func(args, config)`` is a coroutine returning the exit status.
``--config`` is accepted before or after the command's name.

The parsers are ``bot.cli.parsing.Parser`` (argparse in Chinese: its own words, help layout and
errors); ``sub.add_parser`` makes every command's parser of that class.  Help texts are written
next to each option; what the commands print is in templates/labels.toml [cli].
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bot.app import BotStopped
from bot.cli import (
    backup,
    bind,
    console,
    demo,
    intake,
    listing,
    migrate,
    replay,
    report,
    run,
    status,
    workers,
)
from bot.cli.common import CONFIG_HELP, UsageError, fail, say
from bot.cli.parsing import Parser
from bot.config import ConfigError, load_config
from bot.logs import setup_logging
from bot.replay import ReplayError
from handlers.corpus import CorpusError

COMMANDS = (replay, listing, run, console, demo, workers, bind, report, migrate, backup, intake, status)
LOUD = ("run", "gateway")  # commands that log their progress at INFO
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # LINGGONG_LOG=DEBUG shows every SQL statement (masked)


def log_level(command: str) -> int:
    """The log level: LINGGONG_LOG if set (DEBUG/INFO/WARNING/ERROR), else INFO for run/gateway."""
    chosen = os.environ.get("LINGGONG_LOG", "").strip().upper()
    if chosen in LOG_LEVELS:
        return getattr(logging, chosen)
    return logging.INFO if command in LOUD else logging.WARNING


DESCRIPTION = """零工派单助手：社区零工市场的微信机器人。
每个命令的用法：linggong 命令 -h，例如 linggong orders -h。"""


def parser() -> argparse.ArgumentParser:
    # --config before the command's name is the main parser's (default None); after it, each command's
    # own, which leaves the first alone unless given (SUPPRESS).  Two actions, not one shared through
    # parents: a default set on a shared action would be every command's and undo a --config given first.
    common = Parser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, metavar="配置文件", help=CONFIG_HELP)
    p = Parser(prog="linggong", description=DESCRIPTION)
    p.add_argument("--config", default=None, metavar="配置文件", help=CONFIG_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="命令")
    for module in COMMANDS:
        module.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(log_level(args.command))
    try:
        config = load_config(args.config)
        return asyncio.run(args.func(args, config))
    except ConfigError as exc:  # bot/config.py's words, as they are
        fail(say("config_error", message=exc))
        return 2
    except ReplayError as exc:
        fail(say("replay_error", message=exc))
        return 2
    except CorpusError as exc:
        fail(say("corpus_error", message=exc))
        return 2
    except UsageError as exc:
        fail(str(exc))
        return 2
    except BotStopped as exc:
        fail(say("stopped", message=exc))
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # linggong orders | head: the reader has gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
