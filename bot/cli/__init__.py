"""The ``linggong`` command line (also ``python -m bot``): one module per command.

Each command module has ``register(sub, common)``, which adds its parser(s) with
``set_defaults(func=...)``; ``func(args, config)`` is a coroutine returning the exit status.
``--config`` is accepted before or after the command's name.
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
from bot.cli.common import UsageError
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


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to config.toml (default: ./config.toml)")
    p = argparse.ArgumentParser(prog="linggong", description="零工派单助手 — community odd-job market bot",
                                parents=[common])
    p.set_defaults(config=None)
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(log_level(args.command))
    try:
        config = load_config(args.config)
        return asyncio.run(args.func(args, config))
    except (ConfigError, ReplayError, UsageError, CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BotStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
