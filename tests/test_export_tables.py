"""Tables that print (issue 16): the xlsx export (the daily file, ``linggong export``, dashboard
downloads) has a title row, A4 landscape one page wide with the header on every page, wrapped
内容, the four times, the cancel reason, claim times as 分:秒 and 方式 抢单/指派; the CSV has the
same columns without the title.  Residents' phones and doors stay masked."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.render import load_labels
from bot.sheets.export import export_orders, minutes_seconds
from tests.conftest import Chat, Group
from tests.webkit import Web, web  # noqa: F401

LONG_NEED = ("需要修水管，厨房水管接头漏水很严重，地上全是水，麻烦师傅带上工具和配件尽快过来看看，"
             "阳光小区3栋2单元501室，今天上午，电话13908521234")
NEED = "需要修水管，阳光小区3栋2单元501室，今天上午，电话13908521234"
ORDER_COLUMNS = ["编号", "网格", "类别", "居民", "内容", "派单人", "接单人", "方式", "发单时间", "派单时间", "接单时间",
                 "接单用时(分:秒)", "完成时间", "评价", "状态", "取消原因"]
WORKER_COLUMNS = ["姓名", "团队", "抢单数", "指派数", "完成数", "接单用时中位(分:秒)", "平均评价"]


async def morning(chat: Chat, grid1: Group, market: Group) -> None:
    """#1 claimed after 3:07 and done; #2 assigned; #3 cancelled with a reason that names a phone."""
    await grid1.say("张阿姨", LONG_NEED)
    await grid1.say("杨先媚", "派单1")
    chat.clock.advance(187)
    await market.say("熊明祥", "接1")
    chat.clock.advance(600)
    await market.say("熊明祥", "完成1")
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "指派 2 @韩德明")
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "取消3 居民自己修好了，有事打13908521234")


Day = tuple[int, int]  # (month, day) in 2026


async def export(chat: Chat, tmp_path: Path, fmt: str, days: tuple[Day, Day] = ((11, 23), (11, 24))) -> Path:
    """The export of [first day, end day) in 2026 (month, day)."""
    tz = chat.app.config.tz
    path = tmp_path / f"orders.{fmt}"
    (m1, d1), (m2, d2) = days
    await export_orders(chat.repo, chat.app.config, "洗马社区", datetime(2026, m1, d1, tzinfo=tz),
                        datetime(2026, m2, d2, tzinfo=tz), path, fmt)
    return path


def values(sheet) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize(("seconds", "shown"), [(187, "3:07"), (5, "0:05"), (60, "1:00"), (3725.4, "62:05"),
                                                (None, "")])
def test_claim_times_are_minutes_and_seconds(seconds, shown):
    assert minutes_seconds(seconds) == shown


async def test_the_xlsx_has_a_title_row_and_prints_landscape_one_page_wide(chat, grid1, market, tmp_path):
    await morning(chat, grid1, market)
    book = load_workbook(await export(chat, tmp_path, "xlsx"))
    orders, workers = book.worksheets
    assert orders["A1"].value == "洗马社区 订单（2026-11-23）" and workers["A1"].value == "洗马社区 零工汇总（2026-11-23）"
    assert [str(r) for r in orders.merged_cells.ranges] == ["A1:P1"], "the title spans the table"
    assert [c.value for c in orders[2]] == ORDER_COLUMNS and [c.value for c in workers[2]] == WORKER_COLUMNS
    for sheet in (orders, workers):
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.paperSize == 9, "A4"
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0, "one page wide, any tall"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows in ("2:2", "$2:$2"), "the header row on every printed page"
        assert sheet.freeze_panes == "A3" and sheet.oddFooter.center.text == "第 &P 页，共 &N 页"
    book = load_workbook(await export(chat, tmp_path, "xlsx", days=((11, 1), (12, 1))))
    assert book.worksheets[0]["A1"].value == "洗马社区 订单（2026-11-01 至 2026-11-30）"


async def test_the_xlsx_columns_times_claim_time_and_way(chat, grid1, market, tmp_path):
    await morning(chat, grid1, market)
    sheet = load_workbook(await export(chat, tmp_path, "xlsx")).worksheets[0]
    rows = {row[0]: dict(zip(ORDER_COLUMNS, row, strict=True)) for row in values(sheet)[2:]}
    claimed, assigned, cancelled = rows["#1"], rows["#2"], rows["#3"]
    assert (claimed["方式"], claimed["接单人"], claimed["接单用时(分:秒)"]) == ("抢单", "熊明祥", "3:07")
    assert (claimed["发单时间"], claimed["派单时间"], claimed["接单时间"], claimed["完成时间"]) == (
        "2026-11-23 08:00", "2026-11-23 08:00", "2026-11-23 08:03", "2026-11-23 08:13")
    assert (assigned["方式"], assigned["接单人"], assigned["接单用时(分:秒)"]) == ("指派", "韩德明", ""), \
        "an assignment has no claim time"
    assert assigned["派单时间"] == assigned["接单时间"] == "2026-11-23 08:13" and assigned["完成时间"] == ""
    assert (cancelled["状态"], cancelled["方式"], cancelled["接单时间"]) == ("已取消", "", "")
    assert "居民自己修好了" in cancelled["取消原因"] and "13908521234" not in cancelled["取消原因"]
    text_column = ORDER_COLUMNS.index("内容") + 1
    cells = [sheet.cell(r, text_column) for r in range(3, sheet.max_row + 1)]
    assert all(c.alignment.wrap_text for c in cells) and "厨房水管接头漏水" in cells[0].value
    assert sheet.column_dimensions["E"].width == 40, "a fixed width: the long need wraps inside it"
    for row in values(sheet):
        assert "13908521234" not in str(row) and "501室" not in str(row), "phones and doors stay masked"
    assert "139****1234" in claimed["居民"]


async def test_the_worker_summary_counts_assignments_apart(chat, grid1, market, tmp_path):
    await morning(chat, grid1, market)
    sheet = load_workbook(await export(chat, tmp_path, "xlsx")).worksheets[1]
    rows = [dict(zip(WORKER_COLUMNS, row, strict=True)) for row in values(sheet)[2:]]
    assert [(r["姓名"], r["抢单数"], r["指派数"], r["完成数"], r["接单用时中位(分:秒)"]) for r in rows] == [
        ("熊明祥", "1", "0", "1", "3:07"), ("韩德明", "0", "1", "0", "")]


async def test_the_csv_has_the_xlsx_columns_without_the_title(chat, grid1, market, tmp_path):
    await morning(chat, grid1, market)
    sheet = load_workbook(await export(chat, tmp_path, "xlsx")).worksheets[0]
    with (await export(chat, tmp_path, "csv")).open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ORDER_COLUMNS == list(load_labels()["export"]["order_columns"])
    assert rows == values(sheet)[1:], "the same header and rows, no title row"
    assert not [cell for row in rows for cell in row if "13908521234" in cell or "501室" in cell]


async def test_dashboard_downloads_and_the_daily_file_are_the_printable_table(web: Web, chat, grid1, market):  # noqa: F811
    from bot.schedule.jobs import write_daily_export

    await morning(chat, grid1, market)
    await web.login()
    response = await web.response("get", "/dash/export?from=2026-11-01&to=2026-11-30&format=xlsx")
    sheet = load_workbook(io.BytesIO(await response.get_data())).worksheets[0]
    assert sheet["A1"].value == "洗马社区 订单（2026-11-01 至 2026-11-30）"
    assert sheet.print_title_rows in ("2:2", "$2:$2") and sheet.page_setup.orientation == "landscape"
    community, tz = chat.app.config.communities[0], chat.app.config.tz
    path = await write_daily_export(chat.app, community, datetime(2026, 11, 23, tzinfo=tz),
                                    datetime(2026, 11, 24, tzinfo=tz))
    daily = load_workbook(path).worksheets[0]
    assert daily["A1"].value == "洗马社区 订单（2026-11-23）" and daily.sheet_properties.pageSetUpPr.fitToPage
    assert [c.value for c in daily[2]] == ORDER_COLUMNS
