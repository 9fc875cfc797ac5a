"""Browser tests: the real stack served on an ephemeral port, driven in Debian's headless Chromium
with Playwright.  Skipped (with the reason) where /usr/bin/chromium is missing, except under CI=true,
where a missing browser is a failure.  Screenshots of every page go to test-output/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.stack import Stack
from tests.webkit import NEED
from tests.webstack import PASSWORD, room_id, stack, wait_item  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "test-output" / "screenshots"
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 10_000  # ms, for every wait on the page


def _browser_or_skip() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    _browser_or_skip()
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def _page(browser, viewport=DESKTOP, *, dialogs: bool = True):
    """A fresh page; with ``dialogs`` it says yes to every confirmation (the dashboard asks before
    destructive actions: tests/test_web_browser_confirm.py answers them itself)."""
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    context.set_default_timeout(TIMEOUT)
    page = await context.new_page()
    if dialogs:
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    return page


async def _shot(page, name: str, full_page: bool = True) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


async def _open_conv(page, title: str) -> None:
    await page.locator("#conv-list button", has_text=title).first.click()
    await page.wait_for_function("t => document.getElementById('conv-title').textContent === t", arg=title)


async def _send(page, text: str | None = None) -> None:
    if text is not None:
        await page.fill("#text", text)
    await page.click("#send")


async def test_the_whole_xima_loop_in_the_simulator(browser, stack: Stack) -> None:
    from playwright.async_api import expect

    page = await _page(browser)
    await page.goto(stack.url)
    assert page.url.endswith("/sim")
    await page.wait_for_selector("body[data-ready='1']")
    bot_lines = page.locator("#messages li.bot")

    await page.locator(".hint-btn").nth(0).click()  # 张阿姨 posts her need in the grid group
    assert await page.input_value("#speaker") == "张阿姨"
    await _send(page)
    await expect(bot_lines.last).to_contain_text("订单号 #1")
    await expect(bot_lines.last.locator(".mention")).to_have_text("@张阿姨\u2005")
    await page.locator(".hint-btn").nth(1).click()  # 杨先媚 dispatches it
    await _send(page)
    await expect(bot_lines.last).to_contain_text("#1 已派到")

    await _open_conv(page, "洗马社区零工市场群")
    await expect(bot_lines.first).to_contain_text("【派单 #1】")
    market, token = room_id(stack, "洗马社区零工市场群"), await page.get_attribute('meta[name="csrf"]', "content")
    results = await page.evaluate(
        """async ([conv, token]) => Promise.all(["wxid_xiongmingxiang", "wxid_handeming"].map(speaker =>
             fetch("/sim/send", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
                                 body: JSON.stringify({conv, speaker, text: "接1"})}).then(r => r.status)))""",
        [market, token])
    assert results == [200, 200]  # two workers race for #1
    await expect(page.locator("#messages li.bot", has_text="接走，用时")).to_have_count(1)
    await expect(page.locator("#messages li.bot", has_text="接走了，请留意下一单")).to_have_count(1)
    await expect(page.locator("#messages li.person")).to_have_count(2)
    async with stack.app.repo.transaction() as tx:
        order = await tx.get_order("洗马社区", 1)
    winner = order.taker.name
    loser = ({"熊明祥", "韩德明"} - {winner}).pop()
    await expect(page.locator("#messages li.bot", has_text="接走，用时")).to_contain_text(f"被 {winner}")
    await expect(page.locator("#messages li.bot", has_text="接走了")).to_contain_text(f"@{loser}")
    await _shot(page, "simulator-market-race")

    await _open_conv(page, winner)  # the winner's direct chat: the address and phone
    await expect(bot_lines.last).to_contain_text("阳光小区3栋2单元501室")
    await expect(bot_lines.last).to_contain_text("13908521234")
    await _open_conv(page, "洗马社区第一网格群")  # the resident hears who is coming
    await expect(bot_lines.last).to_contain_text(f"已由 {winner} 师傅接单")
    await expect(bot_lines.last.locator(".mention")).to_have_text("@张阿姨\u2005")
    await _shot(page, "simulator-grid")

    phone = await _page(browser, PHONE)
    await phone.goto(stack.url + "/sim")
    await phone.wait_for_selector("body[data-ready='1']")
    await phone.select_option("#conv-select", market)
    await expect(phone.locator("#messages li.bot", has_text="接走，用时")).to_have_count(1)
    await _shot(phone, "simulator-phone", full_page=False)


async def test_dashboard_login_and_a_dispatch_from_it(browser, stack: Stack) -> None:
    from playwright.async_api import expect

    hub = stack.web_app.extensions["linggong"].hub
    grid = room_id(stack, "洗马社区第一网格群")
    await hub.say(grid, "张阿姨", NEED)
    await wait_item(stack, lambda i: i.kind == "bot" and "订单号 #1" in i.text)

    page = await _page(browser)
    await page.goto(stack.url + "/dash/orders")
    assert "/login" in page.url
    await page.select_option("#staff", "杨先媚")
    await page.fill("#password", "not-it")
    await page.click("button[type=submit]")
    await expect(page.locator("#err-password")).to_have_text("密码不对")
    await page.fill("#password", PASSWORD)
    await _shot(page, "login")
    await page.click("button[type=submit]")
    await expect(page.locator(".notice")).to_contain_text("验证码已经私信发到 杨先媚 的微信")
    dm = await stack.gateway.wait_for_sent(  # the code arrives in her own WeChat, by direct message
        lambda r: r.contact_id == "wxid_yangxianmei" and "登录验证码" in r.text, timeout=10)
    await page.fill("#code", re.search(r"登录验证码：([0-9]{6})", dm.text).group(1))
    await _shot(page, "login-code")
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("洗马社区 订单")
    await expect(page.locator("#orders tbody tr")).to_have_count(1)
    await _shot(page, "dashboard-orders")

    await page.click("text=#1")
    await page.fill("#form-dispatch input[name=reward]", "八十")
    await page.click("#form-dispatch button")
    await expect(page.locator("#err-reward")).to_contain_text("报酬请填整数金额")
    await page.fill("#form-dispatch input[name=reward]", "80")
    await page.fill("#form-dispatch input[name=note]", "自带工具")
    await page.click("#form-dispatch button")
    await expect(page.locator(".flash")).to_contain_text("#1 已派到「洗马社区零工市场群」")
    await expect(page.locator(".timeline")).to_contain_text("派单 杨先媚")
    market = room_id(stack, "洗马社区零工市场群")
    card = await stack.gateway.wait_for_sent(lambda r: r.room_id == market and "【派单 #1】" in r.text, timeout=10)
    assert "报酬：80元" in card.text and "13908521234" not in card.text
    await _shot(page, "dashboard-order")

    await hub.say(market, "wxid_xiongmingxiang", "接1")  # a worker takes it in WeChat; staff mark it done on the web
    await wait_item(stack, lambda i: i.kind == "bot" and "接走，用时" in i.text)
    await page.reload()
    await page.click("text=标记完成")
    await expect(page.locator(".flash")).to_contain_text("#1 已完成")
    await page.goto(stack.url + "/dash/workers")
    await expect(page.locator("table.workers")).to_contain_text("熊明祥")
    await _shot(page, "dashboard-workers")
    await page.goto(stack.url + "/dash/stats")
    await expect(page.locator("svg.chart")).to_have_count(3)
    await _shot(page, "dashboard-stats")


async def test_the_display_board_refreshes_and_shows_no_personal_data(browser, stack: Stack) -> None:
    from playwright.async_api import expect

    hub = stack.web_app.extensions["linggong"].hub
    grid1, grid3 = room_id(stack, "洗马社区第一网格群"), room_id(stack, "洗马社区第三网格群")
    await hub.say(grid1, "张阿姨", NEED)
    await hub.say(grid1, "wxid_yangxianmei", "派单 1")
    await wait_item(stack, lambda i: "【派单 #1】" in i.text)

    page = await _page(browser, {"width": 1920, "height": 1080})
    await page.goto(stack.url + "/board?refresh=1")
    await expect(page.locator("#b-open")).to_contain_text("阳光小区3栋")
    await hub.say(grid3, "郑大妈", "求助：家里下水道堵了，金鼎苑5幢1单元302室，电话 13712345678")
    await expect(page.locator("#b-open")).to_contain_text("金鼎苑5幢")  # arrived by the page's own refresh
    await expect(page.locator("#b-posted")).to_have_text("2")
    text, html = await page.inner_text("body"), await page.content()
    for secret in ("13908521234", "13712345678", "501", "302", "2单元", "张阿姨", "郑大妈", "修水管", "下水道"):
        assert secret not in text and secret not in html, secret
    await _shot(page, "board", full_page=False)


async def test_a_qr_order_appears_in_its_grid_group(browser, stack: Stack) -> None:
    from playwright.async_api import expect

    page = await _page(browser, PHONE)
    await page.goto(stack.url + "/posters")
    await _shot(page, "posters")
    await page.click("text=第三网格")
    await expect(page.locator("svg.qr")).to_be_visible()
    await _shot(page, "poster-grid")
    qr_target = await page.locator(".poster .url").inner_text()
    assert qr_target.endswith("/order/洗马社区?grid=第三网格")
    await page.goto(stack.url + "/poster/team/洗马社区/水电一队")
    await _shot(page, "poster-team")

    await page.goto(stack.url + "/order/洗马社区?grid=第三网格")
    await page.click("button[type=submit]")
    await expect(page.locator("#err-description")).to_be_visible()
    await expect(page.locator("#err-phone")).to_be_visible()
    await _shot(page, "order-form-errors")
    await page.select_option("#category", "管道疏通")
    await page.fill("#description", "卫生间下水道堵了")
    await page.fill("#address", "金鼎苑5幢1单元302室")
    await page.fill("#phone", "13712345678")
    await page.fill("#time_wish", "今天下午")
    await _shot(page, "order-form")
    await page.click("button[type=submit]")
    await expect(page.locator("#order-no")).to_have_text("#1")
    await expect(page.locator("blockquote.ack")).to_contain_text("收到您的需求，订单号 #1（管道疏通）")
    await _shot(page, "order-done")

    grid3 = room_id(stack, "洗马社区第三网格群")
    ack = await stack.gateway.wait_for_sent(lambda r: r.room_id == grid3, timeout=10)
    assert "订单号 #1" in ack.text
    sim = await _page(browser)
    await sim.goto(stack.url + "/sim")
    await sim.wait_for_selector("body[data-ready='1']")
    await _open_conv(sim, "洗马社区第三网格群")
    await expect(sim.locator("#messages li.person .via")).to_have_text("扫码下单")
    await expect(sim.locator("#messages li.bot").last).to_contain_text("收到您的需求，订单号 #1")
    await _shot(sim, "simulator-qr-order")
    async with stack.app.repo.transaction() as tx:
        order = await tx.get_order("洗马社区", 1)
    assert (order.grid, order.source, order.category) == ("第三网格", "qr", "管道疏通")
