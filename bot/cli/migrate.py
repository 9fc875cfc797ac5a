"""``linggong migrate``: copy a SQLite file into a shared database, or bring a schema up to date."""

from __future__ import annotations

import argparse
import sys

from bot.config import Config


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    m = sub.add_parser("migrate", parents=[common],
                       help="copy a SQLite file's data into a shared (PostgreSQL) database; "
                            "without --from, bring the database's schema up to date")
    m.add_argument("--from", dest="source", help="the SQLite file: sqlite:///data/linggong.db or a path")
    m.add_argument("--to", dest="target", required=True, help="the target, e.g. postgresql://linggong@db:5432/linggong")
    m.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    """Copy idempotently (a progress bar on stderr), then print the per-table count check;
    without ``--from`` only apply pending schema migrations (for upgrades)."""
    from storage import display_database
    from storage.migrate import MigrationError, migrate, upgrade

    try:
        if args.source is None:
            version, applied = await upgrade(args.target)
            done = f"applied now: {', '.join(f'{n:03d}' for n in applied)}" if applied else "already up to date"
            print(f"{display_database(args.target)}: schema version {version:03d} ({done})")
            return 0
        results = await migrate(args.source, args.target, progress=sys.stderr)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.table:<13} source {r.source:>8}  copied now {r.inserted:>8}  in target {r.target:>8}  ok")
    return 0
