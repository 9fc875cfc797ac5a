"""The order table as the community keeps it, as xlsx (Excel/WPS) or CSV.

One row per order (the resident's phone masked, door numbers removed from the text) plus a
summary per worker.  Column names come from templates/labels.toml.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.render import load_labels
from bot.sheets.cells import append_row, csv_row
from handlers.common import need_of
from handlers.parse import mask_phone, redact_need_text
from handlers.privacy import mask
from handlers.textutil import restore_punct
from storage.models import Order
from storage.repository import Repository
from storage.status import Status


def labels() -> dict[str, Any]:
    return load_labels()


def order_rows(orders: list[Order], config: Config) -> list[list[Any]]:
    status, words = labels()["status"], labels()["words"]

    def t(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, config.tz).strftime("%Y-%m-%d %H:%M") if ts is not None else ""

    rows = []
    for o in orders:
        resident = " ".join([mask(o.resident_name or "") or words["phoned_resident"], *(mask_phone(p) for p in o.phones)])
        rows.append([
            f"#{o.no}", o.grid, o.category or words["other_category"], resident, restore_punct(redact_need_text(o.need_text, need_of(o))),
            mask(o.dispatcher or ""), o.taker.name if o.taker else "", t(o.dispatched_at), t(o.taken_at),
            round(o.claim_seconds) if o.claim_seconds is not None else "", t(o.done_at),
            o.rating if o.rating is not None else "", status.get(o.status, o.status),
        ])
    return rows


def worker_rows(orders: list[Order]) -> list[list[Any]]:
    per: dict[str, list[Order]] = defaultdict(list)
    for o in orders:
        if o.taker is not None:
            per[o.taker.name].append(o)
    rows = []
    for name, taken in sorted(per.items(), key=lambda kv: -sum(o.status == Status.DONE for o in kv[1])):
        claims = [o.claim_seconds for o in taken if o.claim_seconds is not None]
        ratings = [o.rating for o in taken if o.rating is not None]
        rows.append([name, taken[0].taker.team or "", len(taken), sum(o.status == Status.DONE for o in taken),
                     round(statistics.median(claims)) if claims else "",
                     round(sum(ratings) / len(ratings), 1) if ratings else ""])
    return rows


async def export_orders(repo: Repository, config: Config, community: str | None, start: datetime, end: datetime,
                        path: Path, fmt: str) -> int:
    """Write orders created in [start, end) to ``path``; returns the number of order rows."""
    async with repo.transaction() as tx:
        orders = await tx.find_orders(community, time_column="created_at", start=start.timestamp(),
                                      end=end.timestamp())
    names = labels()["export"]
    rows, summary = order_rows(orders, config), worker_rows(orders)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(names["order_columns"])
            writer.writerows(csv_row(row) for row in rows)
        return len(rows)
    _write_xlsx(path, [(names["orders_sheet"], names["order_columns"], rows),
                       (names["workers_sheet"], names["worker_columns"], summary)])
    return len(rows)


def _write_xlsx(path: Path, sheets: list[tuple[str, list[str], list[list[Any]]]]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    book.remove(book.active)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append(header)
        for row in rows:
            append_row(sheet, row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.alignment = Alignment(horizontal="center")
        sheet.freeze_panes = "A2"
        for column in sheet.columns:
            width = max(_display_width(c.value) for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(60, max(8, width + 2))
    tmp = path.with_suffix(path.suffix + ".tmp")
    book.save(tmp)
    tmp.replace(path)


def _display_width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
