"""``linggong orders``: the order table in the terminal, or as JSON lines."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from bot.cli.common import LABELS, MESSAGES, add_db, database, table
from bot.clock import SystemClock
from bot.config import Config
from storage import open_repository
from storage.models import Order
from storage.status import Status

STATUS_NAMES: dict[str, str] = LABELS["status"]  # done -> 已完成
BY_NAME = {name: value for value, name in STATUS_NAMES.items()}  # --status 已完成 means --status done
HELP = "列出订单（表格，或每行一个 JSON）"
DESCRIPTION = """列出订单：单号、社区、网格、状态、类别、居民、接单人，发单、派单、接单、完成的时间和评价。
加 --json 每行打印一个 JSON 对象（键名和状态值保持英文原样，供程序读取）。"""


def status_value(text: str) -> str:
    """``--status``: the stored value (done) or its Chinese name (已完成)."""
    return BY_NAME.get(text, text)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    o = sub.add_parser("orders", parents=[common], help=HELP, description=DESCRIPTION)
    add_db(o)
    o.add_argument("--json", action="store_true", help="每行打印一个 JSON 对象（英文键名，原始值）")
    o.add_argument("--status", type=status_value, choices=[s.value for s in Status],
                   help="只列这个状态的订单：" + "、".join(f"{s.value}（{STATUS_NAMES.get(s.value, s.value)}）"
                                                   for s in Status) + "；也可以写中文名")
    o.add_argument("--community", metavar="社区", help="只列这个社区的订单")
    o.set_defaults(func=command)


async def command(args: argparse.Namespace, config: Config) -> int:
    return await print_orders(config, database(args, config), json_lines=args.json, status=args.status,
                              community=args.community)


def order_row(order: Order, tz) -> dict[str, Any]:
    """One order as ``--json`` prints it: stable English keys, the stored values."""
    def t(ts: float | None) -> str | None:
        return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else None

    return {
        "no": order.no, "community": order.community, "grid": order.grid, "status": order.status,
        "category": order.category, "resident": order.resident_name,
        "taker": order.taker.name if order.taker else None, "created": t(order.created_at),
        "dispatched": t(order.dispatched_at), "taken": t(order.taken_at), "done": t(order.done_at),
        "rating": order.rating,
    }


def table_row(order: Order, tz, year: int) -> list[str]:
    """One order as the table shows it: Chinese status, short times (the year only if not this one)."""
    def t(ts: float | None) -> str:
        if ts is None:
            return "-"
        local = datetime.fromtimestamp(ts, tz)
        return local.strftime("%m-%d %H:%M" if local.year == year else "%Y-%m-%d %H:%M")

    words = LABELS["words"]
    return [f"#{order.no}", order.community, order.grid or "-", STATUS_NAMES.get(order.status, order.status),
            order.category or words["other_category"], order.resident_name or words["phoned_resident"],
            order.taker.name if order.taker else "-", t(order.created_at), t(order.dispatched_at),
            t(order.taken_at), t(order.done_at), "-" if order.rating is None else str(order.rating)]


async def print_orders(config: Config, database: str, *, json_lines: bool, status: str | None,
                       community: str | None) -> int:
    repo = await open_repository(database)
    try:
        async with repo.reading() as tx:
            orders = await tx.find_orders(community, statuses=(status,) if status else None)
    finally:
        await repo.close()
    if json_lines:
        for order in orders:
            print(json.dumps(order_row(order, config.tz), ensure_ascii=False))
    elif not orders:
        print(MESSAGES["orders"]["none"])
    else:
        year = SystemClock(config.tz).now().year
        print(table([MESSAGES["orders"]["columns"], *(table_row(o, config.tz, year) for o in orders)]))
    return 0
