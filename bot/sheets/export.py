"""The order table as the community keeps it, as xlsx (Excel/WPS) or CSV.

One row per order (the resident's phone masked, door numbers removed from the text and the
cancel reason) plus a summary per worker.  Column names come from templates/labels.toml.

The xlsx prints: each sheet starts with a title row (community, sheet, date range), then the
header row, which is repeated at the top of every printed page; pages are A4 landscape, scaled
to the width of one page, with long text (内容, 居民, 取消原因) wrapped.  The CSV has the same
columns without the title row.  Claim times are 分:秒 and count claims only: an order staff
assigned (方式 指派) has no claim time.
"""

from __future__ import annotations

import asyncio
import csv
import statistics
from collections import defaultdict
from datetime import datetime, timedelta
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

# What each column holds, in the order of labels.toml [export] order_columns / worker_columns.
ORDER_KEYS = ("no", "grid", "category", "resident", "text", "dispatcher", "taker", "way", "created", "dispatched",
              "taken", "claim", "done", "rating", "status", "cancel_reason")
WORKER_KEYS = ("name", "team", "claimed", "assigned", "done", "median_claim", "rating")
WRAPPED = {"text": 40, "resident": 22, "cancel_reason": 24}  # wrapped columns and their widths
MAX_WIDTH = 24  # other columns: as wide as their longest value, up to this


def labels() -> dict[str, Any]:
    return load_labels()


def minutes_seconds(seconds: float | None) -> str:
    """187 -> '3:07', 5 -> '0:05', 3725 -> '62:05'; None -> ''."""
    if seconds is None:
        return ""
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


def order_rows(orders: list[Order], config: Config) -> list[list[Any]]:
    names = labels()
    status, words, ways = names["status"], names["words"], names["export"]["ways"]

    def t(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, config.tz).strftime("%Y-%m-%d %H:%M") if ts is not None else ""

    rows = []
    for o in orders:
        resident = " ".join([mask(o.resident_name or "") or words["phoned_resident"], *(mask_phone(p) for p in o.phones)])
        need = need_of(o)
        values = {
            "no": f"#{o.no}", "grid": o.grid, "category": o.category or words["other_category"], "resident": resident,
            "text": restore_punct(redact_need_text(o.need_text, need)), "dispatcher": mask(o.dispatcher or ""),
            "taker": o.taker.name if o.taker else "",
            "way": "" if o.taken_at is None else ways["assign"] if o.assigned else ways["claim"],
            "created": t(o.created_at), "dispatched": t(o.dispatched_at), "taken": t(o.taken_at),
            "claim": minutes_seconds(o.claim_seconds), "done": t(o.done_at),
            "rating": o.rating if o.rating is not None else "", "status": status.get(o.status, o.status),
            # a resident may cancel with a reason: it is shown as the need text is (no phone, no door)
            "cancel_reason": restore_punct(redact_need_text(o.cancel_reason, need)) if o.cancel_reason else "",
        }
        rows.append([values[key] for key in ORDER_KEYS])
    return rows


def worker_rows(orders: list[Order]) -> list[list[Any]]:
    per: dict[str, list[Order]] = defaultdict(list)
    for o in orders:
        if o.taker is not None:
            per[o.taker.name].append(o)
    rows = []
    for name, taken in sorted(per.items(), key=lambda kv: -sum(o.status == Status.DONE for o in kv[1])):
        claims = [o.claim_seconds for o in taken if o.claim_seconds is not None]  # claims only, not 指派
        ratings = [o.rating for o in taken if o.rating is not None]
        values = {
            "name": name, "team": taken[0].taker.team or "",
            "claimed": sum(not o.assigned for o in taken), "assigned": sum(o.assigned for o in taken),
            "done": sum(o.status == Status.DONE for o in taken),
            "median_claim": minutes_seconds(statistics.median(claims)) if claims else "",
            "rating": round(sum(ratings) / len(ratings), 1) if ratings else "",
        }
        rows.append([values[key] for key in WORKER_KEYS])
    return rows


async def export_orders(repo: Repository, config: Config, community: str | None, start: datetime, end: datetime,
                        path: Path, fmt: str) -> int:
    """Write orders created in [start, end) to ``path``; returns the number of order rows."""
    async with repo.reading() as tx:  # a snapshot: an export never holds the write lock
        orders = await tx.find_orders(community, time_column="created_at", start=start.timestamp(),
                                      end=end.timestamp())
    # Turning the rows into cells and writing the file is pure Python (openpyxl, most of a
    # millisecond per order): in a thread, so the event loop goes on handling messages (it shares
    # the GIL with the thread meanwhile, so they are slower for that moment, not stopped).
    return await asyncio.to_thread(_write, orders, config, community, start, end, path, fmt)


def _write(orders: list, config: Config, community: str | None, start: datetime, end: datetime, path: Path,
           fmt: str) -> int:
    names = labels()["export"]
    order_header, worker_header = list(names["order_columns"]), list(names["worker_columns"])
    assert len(order_header) == len(ORDER_KEYS) and len(worker_header) == len(WORKER_KEYS), "labels.toml [export]"
    rows, summary = order_rows(orders, config), worker_rows(orders)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        _write_csv(path, order_header, rows)
        return len(rows)
    last_day = (end - timedelta(microseconds=1)).date()  # end is exclusive: midnight after the last day

    first_day = start.date()
    dates = first_day.isoformat() if first_day == last_day else names["dates"].format(
        start=first_day.isoformat(), end=last_day.isoformat())

    def title(sheet: str) -> str:
        return names["title"].format(community=community or names["all_communities"], sheet=sheet, dates=dates)

    _write_xlsx(path, [
        (names["orders_sheet"], title(names["orders_sheet"]), order_header, ORDER_KEYS, rows),
        (names["workers_sheet"], title(names["workers_sheet"]), worker_header, WORKER_KEYS, summary),
    ], footer=names["footer"])
    return len(rows)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(csv_row(row) for row in rows)


def _write_xlsx(path: Path, sheets: list[tuple[str, str, list[str], tuple[str, ...], list[list[Any]]]], *,
                footer: str) -> None:
    """Each sheet: row 1 its title, row 2 the header (repeated on every printed page), then the rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.page import PageMargins

    book = Workbook()
    book.remove(book.active)
    for name, title, header, keys, rows in sheets:
        sheet = book.create_sheet(name)
        append_row(sheet, [title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        sheet["A1"].font = Font(bold=True, size=14)
        sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
        sheet.row_dimensions[1].height = 26
        sheet.append(header)
        for row in rows:
            append_row(sheet, row)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        for index, key in enumerate(keys, 1):
            letter = get_column_letter(index)
            cells = [row[0] for row in sheet.iter_rows(min_row=3, min_col=index, max_col=index)]
            if key in WRAPPED:
                width = WRAPPED[key]
                for cell in cells:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
            else:
                width = min(MAX_WIDTH, max(8, max(_display_width(c.value) for c in [sheet.cell(2, index), *cells]) + 2))
                for cell in cells:
                    cell.alignment = Alignment(vertical="top")
            sheet.column_dimensions[letter].width = width
        last = get_column_letter(len(header))
        sheet.freeze_panes = "A3"
        sheet.auto_filter.ref = f"A2:{last}{max(sheet.max_row, 2)}"
        # printing: A4 landscape, one page wide (as many tall as needed), the header on every page
        sheet.print_title_rows = "2:2"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.print_options.horizontalCentered = True
        sheet.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        sheet.oddFooter.center.text = footer
    tmp = path.with_suffix(path.suffix + ".tmp")
    book.save(tmp)
    tmp.replace(path)


def _display_width(value: Any) -> int:
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
