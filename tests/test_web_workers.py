"""The dashboard's roster (approve/suspend, CSV import/export) and statistics (charts, xlsx export)."""

from __future__ import annotations

import io
import zipfile

from openpyxl import load_workbook

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
    bad = f"{header}\n欧阳华,oyh,13800001111,家电水电维修,水电一队,2026-05-01,已登记\n胡师傅,hu,123,飞行,,,已登记\n"
    status, text = await web.post("/dash/workers/import", {}, files={"file": _upload("roster.csv", bad)})
    assert status == 400
    assert "没有导入任何一行" in text and "roster.csv:3" in text and "飞行" in text
    async with chat.app.repo.transaction() as tx:
        assert await tx.find_worker("洗马社区", name="欧阳华") is None
    good = f"{header}\n欧阳华,oyh,13800001111,家电水电维修,水电一队,2026-05-01,已登记\n"
    status, _ = await web.post("/dash/workers/import", {}, files={"file": _upload("roster.csv", good)})
    assert status == 302
    async with chat.app.repo.transaction() as tx:
        assert (await tx.find_worker("洗马社区", name="欧阳华")).team == "水电一队"
    response = await web.response("get", "/dash/workers/export.csv")
    body = (await response.get_data()).decode("utf-8-sig")
    assert body.splitlines()[0] == header and "欧阳华,oyh,13800001111" in body
    status, text = await web.post("/dash/workers/import", {})
    assert status == 400 and "请选择一个 CSV 文件" in text


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
    assert orders.max_row == 2 and orders.cell(2, 1).value == "#1"
    assert "13908521234" not in str([c.value for c in orders[2]])
    assert zipfile.is_zipfile(io.BytesIO(await response.get_data()))
    response = await web.response("get", "/dash/export?from=2026-11-01&to=2026-11-30&format=csv")
    assert "#1" in (await response.get_data()).decode("utf-8-sig")
    status, text = await web.get("/dash/export?from=2026-11-30&to=2026-11-01&format=pdf")
    assert status == 400 and "结束日期不能早于开始日期" in text and "请选择 xlsx 或 csv" in text


def _upload(name: str, text: str):
    from quart.datastructures import FileStorage

    return FileStorage(io.BytesIO(text.encode("utf-8")), filename=name, content_type="text/csv")
