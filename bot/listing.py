"""CLI listings: ``linggong orders`` and ``linggong workers import|export``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.render import Renderer
from bot.roster import RosterError, export_roster, import_roster, parse_roster
from storage import open_repository
from storage.models import Order


def order_row(order: Order, tz) -> dict[str, Any]:
    def t(ts: float | None) -> str | None:
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else None

    return {
        "no": order.no, "community": order.community, "grid": order.grid, "status": order.status,
        "category": order.category, "resident": order.resident_name,
        "taker": order.taker.name if order.taker else None, "created": t(order.created_at),
        "dispatched": t(order.dispatched_at), "taken": t(order.taken_at), "done": t(order.done_at),
        "rating": order.rating,
    }


async def print_orders(config: Config, database: str, *, json_lines: bool, status: str | None,
                       community: str | None) -> int:
    repo = await open_repository(database)
    try:
        async with repo.transaction() as tx:
            orders = await tx.find_orders(community, statuses=(status,) if status else None)
    finally:
        await repo.close()
    rows = [order_row(o, config.tz) for o in orders]
    if json_lines:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(Renderer(config.tz).render("orders_table", {"rows": rows}))
    return 0


async def workers_command(config: Config, database: str, action: str, path: Path, community: str | None) -> int:
    name = community or config.communities[0].name
    if config.community(name) is None:
        print(f"error: --community {name!r} is not in {config.source}", file=sys.stderr)
        return 2
    repo = await open_repository(database)
    try:
        if action == "export":
            path.write_text(await export_roster(repo, name), encoding="utf-8-sig")
            print(f"exported the roster of {name} to {path}")
            return 0
        if not path.is_file():
            print(f"error: {path}: file not found", file=sys.stderr)
            return 2
        try:
            rows = parse_roster(path.read_text(encoding="utf-8-sig"), {c.name for c in config.categories}, str(path))
        except RosterError as exc:
            print(f"error: nothing imported; fix these rows:\n{exc}", file=sys.stderr)
            return 2
        counts = await import_roster(repo, name, rows, datetime.now(config.tz).timestamp())
        print(f"imported {len(rows)} workers into {name}: {counts['added']} added, {counts['updated']} updated")
        return 0
    finally:
        await repo.close()
