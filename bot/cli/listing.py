"""``linggong orders``: the order table in the terminal, or as JSON lines."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from bot.cli.common import add_db, database
from bot.config import Config
from bot.render import Renderer
from storage import open_repository
from storage.models import Order
from storage.status import Status


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    o = sub.add_parser("orders", parents=[common], help="list orders")
    add_db(o)
    o.add_argument("--json", action="store_true", help="one JSON object per line")
    o.add_argument("--status", choices=[s.value for s in Status])
    o.add_argument("--community")
    o.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    return await print_orders(config, database(args, config), json_lines=args.json, status=args.status,
                              community=args.community)


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
