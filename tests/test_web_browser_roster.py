"""Browser test of the roster as offices have it: on the dashboard's workers page, in Debian's
headless Chromium, a GBK CSV (Excel's "CSV" on a Chinese Windows) and an xlsx with a title row,
a date cell and a numeric phone are uploaded and their workers listed; a bad file shows its
problems by line and column; the template downloads.  Skipped like tests/test_web_browser.py.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import Workbook, load_workbook

from bot.sheets.roster import COLUMNS
from tests.stack import Stack
from tests.test_web_browser import _page, _shot, browser  # noqa: F401
from tests.webstack import PASSWORD, stack  # noqa: F401

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _login(page, stack: Stack) -> None:
    await page.goto(stack.url + "/dash/workers")
    await page.select_option("#staff", "杨先媚")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    dm = await stack.gateway.wait_for_sent(
        lambda r: r.contact_id == "wxid_yangxianmei" and "登录验证码" in r.text, timeout=10)
    await page.fill("#code", re.search(r"登录验证码：([0-9]{6})", dm.text).group(1))
    await page.click("button[type=submit]")
    await page.goto(stack.url + "/dash/workers")


def _xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["洗马社区零工名册（2026年3月）"])
    sheet.append([])
    sheet.append([f"{c} " for c in COLUMNS])
    sheet.append(["胡德才", "hu_nick", 13985206780, "搬家配送", "搬家二队", datetime(2026, 3, 1), "待审核"])
    sheet["F4"].number_format = "yyyy/m/d"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_gbk_csv_and_xlsx_uploaded_on_the_workers_page(browser, stack: Stack) -> None:  # noqa: F811
    from playwright.async_api import expect

    page = await _page(browser)
    await _login(page, stack)
    await expect(page.locator("h1")).to_have_text("洗马社区 零工名册")
    workers = page.locator("table.workers")

    gbk = (",".join(COLUMNS) + "\r\n欧阳华,oyh_nick,13800001111,家电水电维修、管道疏通,水电一队,2026/3/1,已登记\r\n")
    await page.set_input_files("#import-form input[name=file]",
                               files=[{"name": "名册.csv", "mimeType": "text/csv", "buffer": gbk.encode("gbk")}])
    await page.click("#import-form button[type=submit]")
    await expect(page.locator(".flash")).to_contain_text("已导入 1 位零工：新增 1，更新 0。")
    row = workers.locator("tr", has_text="欧阳华")
    await expect(row).to_contain_text("家电水电维修、管道疏通")
    await expect(row).to_contain_text("2026-03-01")
    await expect(row).to_contain_text("13800001111")

    await page.set_input_files("#import-form input[name=file]",
                               files=[{"name": "名册.xlsx", "mimeType": XLSX, "buffer": _xlsx()}])
    await page.click("#import-form button[type=submit]")
    await expect(page.locator(".flash")).to_contain_text("已导入 1 位零工")
    row = workers.locator("tr", has_text="胡德才")
    await expect(row).to_contain_text("13985206780")
    await expect(row).to_contain_text("2026-03-01")
    await expect(row).to_contain_text("待审核")
    await _shot(page, "dashboard-workers-imported")

    bad = (",".join(COLUMNS) + "\r\n蒋秀兰,jiang_nick,139,修飞机,,2026/13/1,\r\n").encode("gbk")
    await page.set_input_files("#import-form input[name=file]",
                               files=[{"name": "名册.csv", "mimeType": "text/csv", "buffer": bad}])
    await page.click("#import-form button[type=submit]")
    problems = page.locator(".problems")
    await expect(problems).to_contain_text("没有导入任何一行")
    await expect(problems).to_contain_text("第 2 行，“电话”列：139 不是 11 位手机号")
    await expect(problems).to_contain_text("第 2 行，“技能”列：修飞机 不在配置的类别里（可选：")
    await expect(problems).to_contain_text("第 2 行，“承诺书日期”列：2026/13/1 不是日期，请写成 2026-03-01 或 2026/3/1")
    await expect(workers).not_to_contain_text("蒋秀兰")
    await _shot(page, "dashboard-workers-import-problems")

    async with page.expect_download() as info:
        await page.click("text=下载填写模板（Excel）")
    download = await info.value
    assert download.suggested_filename == "零工名册模板.xlsx"
    book = load_workbook(io.BytesIO((await download.path()).read_bytes()))
    assert book.sheetnames == ["零工名册", "说明"] and [c.value for c in book.worksheets[0][1]] == list(COLUMNS)
    async with stack.app.repo.transaction() as tx:
        assert (await tx.find_worker("洗马社区", name="胡德才")).phone == "13985206780"
        assert await tx.find_worker("洗马社区", name="蒋秀兰") is None
