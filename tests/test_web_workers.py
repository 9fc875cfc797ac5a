"""The dashboard's roster (approve/suspend, CSV and xlsx import/export, the fill-in template) and
statistics (charts, xlsx export)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

from openpyxl import Workbook, load_workbook

from bot.sheets.roster import COLUMNS
from tests.conftest import Chat, pid
from tests.webkit import GRID1, MARKET, NEED, Web, web  # noqa: F401


async def _loop(chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say(GRID1, "杨先媚", "派单 1")
    chat.clock.advance(5)
    await chat.say(MARKET, "熊明祥", "接1")
    chat.clock.advance(600)
    await chat.say(MARKET, "熊明祥", "完成1")


async def test_the_roster_shows_each_workers_figures(web: Web, chat: Chat) -> None:
    await _loop(chat)
    await web.login()
    status, text = await web.get("/dash/workers")
    assert status == 200
    row = text[text.index("<b>熊明祥</b>"):]
    row = row[:row.index("</tr>")]
    for cell in ("家电水电维修、管道疏通", "水电一队", "2026-03-01", "已登记", "13985201234", "5 秒"):
        assert cell in row
    assert '<td data-label="本月完成">1</td>' in row


async def test_approve_and_suspend_go_through_the_chat(web: Web, chat: Chat) -> None:
    await chat.say(MARKET, "欧阳华", "登记 欧阳华 13800001111 家电水电维修")
    await web.login()
    async with chat.app.repo.transaction() as tx:
        ouyang = await tx.find_worker("洗马社区", name="欧阳华")
    assert ouyang.status == "pending"
    await web.sent()
    status, _ = await web.post(f"/dash/workers/{ouyang.id}/approve", {})
    assert status == 302
    async with chat.app.repo.transaction() as tx:
        ouyang = await tx.get_worker(ouyang.id)
    assert (ouyang.status, ouyang.pledge_date) == ("active", "2026-11-23")
    sent = await web.sent()
    assert any(s.contact == pid("欧阳华") for s in sent)  # the worker is told, as from the chat
    _, text = await web.get("/dash/workers")
    assert "欧阳华 已通过审核" in text
    await web.post(f"/dash/workers/{ouyang.id}/suspend", {})
    async with chat.app.repo.transaction() as tx:
        assert (await tx.get_worker(ouyang.id)).status == "suspended"
    status, text = await web.post(f"/dash/workers/{ouyang.id}/promote", {})
    assert status == 400 and "没有这个操作" in text
    status, _ = await web.post(f"/dash/workers/{ouyang.id}/approve", {}, csrf=False)
    assert status == 400
    async with chat.app.repo.transaction() as tx:
        assert (await tx.get_worker(ouyang.id)).status == "suspended"


async def test_csv_import_reports_bad_rows_and_imports_nothing(web: Web, chat: Chat) -> None:
    await web.login()
    header = ",".join(COLUMNS)
    bad = f"{header}\n欧阳华,oyh,13800001111,家电水电维修,水电一队,2026-05-01,已登记\n胡师傅,hu,123,飞行,,2026/13/1,已登记\n"
    status, text = await web.post("/dash/workers/import", {}, files={"file": _upload("roster.csv", bad)})
    assert status == 400
    assert "没有导入任何一行" in text and "第 3 行，“电话”列：123 不是 11 位手机号" in text
    assert "第 3 行，“技能”列：飞行 不在配置的类别里（可选：" in text
    assert "第 3 行，“承诺书日期”列：2026/13/1 不是日期，请写成 2026-03-01 或 2026/3/1" in text
    async with chat.app.repo.transaction() as tx:
        assert await tx.find_worker("洗马社区", name="欧阳华") is None
    good = f"{header}\n欧阳华,oyh,13800001111,家电水电维修,水电一队,2026/5/1,已登记\n"
    status, _ = await web.post("/dash/workers/import", {}, files={"file": _upload("roster.csv", good)})
    assert status == 302
    async with chat.app.repo.transaction() as tx:
        ouyang = await tx.find_worker("洗马社区", name="欧阳华")
    assert (ouyang.team, ouyang.pledge_date) == ("水电一队", "2026-05-01")
    response = await web.response("get", "/dash/workers/export.csv")
    body = (await response.get_data()).decode("utf-8-sig")
    assert body.splitlines()[0] == header and "欧阳华,oyh,13800001111" in body
    status, text = await web.post("/dash/workers/import", {})
    assert status == 400 and "请选择一个名册文件（CSV 或 Excel）" in text


GBK_ROSTER = ",".join(COLUMNS) + "\r\n欧阳华,oyh_nick,13800001111,家电水电维修、搬家配送,水电一队,2026/3/1,已登记\r\n"


def _xlsx(rows: list[list[object]], title: str | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_gbk_csv_and_xlsx_are_imported_whatever_the_file_is_called(web: Web, chat: Chat) -> None:
    await web.login()
    upload = _upload("名册.csv", GBK_ROSTER.encode("gbk"))
    status, _ = await web.post("/dash/workers/import", {}, files={"file": upload})
    assert status == 302
    _, text = await web.get("/dash/workers")
    assert "已导入 1 位零工：新增 1，更新 0。" in text and "<b>欧阳华</b>" in text
    book = _xlsx([list(COLUMNS), ["胡德才", "hu_nick", 13985206780, "搬家配送", None, datetime(2026, 3, 1), "待审核"]],
                 title="洗马社区零工名册")
    status, _ = await web.post("/dash/workers/import", {}, files={"file": _upload("roster.csv", book)})  # misnamed
    assert status == 302
    async with chat.app.repo.transaction() as tx:
        hu = await tx.find_worker("洗马社区", name="胡德才")
    assert (hu.phone, hu.pledge_date, hu.status, hu.wechat) == ("13985206780", "2026-03-01", "pending", "hu_nick")
    bad = _xlsx([list(COLUMNS), ["蒋秀兰", "jiang_nick", 139, "", "", "", ""]])
    status, text = await web.post("/dash/workers/import", {}, files={"file": _upload("名册.xlsx", bad)})
    assert status == 400 and "第 2 行，“电话”列：139 不是 11 位手机号" in text
    undecodable = GBK_ROSTER.encode("gbk") + b"\xa1\xff\xfe\x80\r\n"
    status, text = await web.post("/dash/workers/import", {}, files={"file": _upload("名册.csv", undecodable)})
    assert status == 400 and "第 3 行有既不是 UTF-8 也不是 GBK 的字符" in text
    async with chat.app.repo.transaction() as tx:
        assert await tx.find_worker("洗马社区", name="蒋秀兰") is None


async def test_the_template_and_the_xlsx_export_download(web: Web, chat: Chat) -> None:
    for path in ("/dash/workers/template.xlsx", "/dash/workers/export.xlsx"):
        response = await web.response("get", path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    await web.login()
    _, page = await web.get("/dash/workers")
    assert "下载填写模板（Excel）" in page and "/dash/workers/template.xlsx" in page
    response = await web.response("get", "/dash/workers/template.xlsx")
    assert response.status_code == 200
    assert "filename*=UTF-8''%E9%9B%B6%E5%B7%A5%E5%90%8D%E5%86%8C%E6%A8%A1%E6%9D%BF.xlsx" in \
        response.headers["Content-Disposition"]  # 零工名册模板.xlsx
    book = load_workbook(io.BytesIO(await response.get_data()))
    assert book.sheetnames == ["零工名册", "说明"]
    assert [c.value for c in book.worksheets[0][1]] == list(COLUMNS)
    assert str(book.worksheets[0]["A2"].value).startswith("示例")
    assert "管道疏通" in str([c.value for c in book["说明"]["B"]])  # the configured categories
    response = await web.response("get", "/dash/workers/export.xlsx")
    sheet = load_workbook(io.BytesIO(await response.get_data())).worksheets[0]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["熊明祥"][1:3] == ("wxid_xiongmingxiang", "13985201234")


async def test_stats_page_draws_charts_and_exports_xlsx(web: Web, chat: Chat) -> None:
    await _loop(chat)
    await web.login()
    status, text = await web.get("/dash/stats")
    assert status == 200
    assert text.count('<svg class="chart"') == 3
    assert "熊明祥" in text and "本月接单王" in text
    response = await web.response("get", "/dash/export?from=2026-11-01&to=2026-11-30&format=xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(await response.get_data()))
    orders = book.worksheets[0]
    assert orders.max_row == 3 and orders.cell(3, 1).value == "#1", "row 1: the title, row 2: the header"
    assert "13908521234" not in str([c.value for c in orders[3]])
    assert zipfile.is_zipfile(io.BytesIO(await response.get_data()))
    response = await web.response("get", "/dash/export?from=2026-11-01&to=2026-11-30&format=csv")
    assert "#1" in (await response.get_data()).decode("utf-8-sig")
    status, text = await web.get("/dash/export?from=2026-11-30&to=2026-11-01&format=pdf")
    assert status == 400 and "结束日期不能早于开始日期" in text and "请选择 xlsx 或 csv" in text


def _upload(name: str, content: str | bytes):
    from quart.datastructures import FileStorage

    data = content.encode("utf-8") if isinstance(content, str) else content
    return FileStorage(io.BytesIO(data), filename=name, content_type="application/octet-stream")
