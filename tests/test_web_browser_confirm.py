"""The dashboard's destructive actions ask first, in Debian's Chromium: dismissing the dialog
changes nothing, accepting it acts; phones are tap-to-call links."""

from __future__ import annotations

import re

import pytest

from tests.conftest import wid
from tests.stack import Stack
from tests.test_web_browser import PHONE, _page, _shot, browser  # noqa: F401  (the fixture)
from tests.webkit import NEED
from tests.webstack import PASSWORD, room_id, stack  # noqa: F401  (the fixture)

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"


async def _login(page, stack: Stack, name: str = "杨先媚") -> None:
    from playwright.async_api import expect

    await page.goto(stack.url + "/login")
    await page.select_option("#staff", name)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    contact = stack.web_app.extensions["linggong"].contact_of(name)
    dm = await stack.gateway.wait_for_sent(lambda r: r.contact_id == contact and "登录验证码" in r.text, timeout=10)
    await page.fill("#code", re.search(r"登录验证码：([0-9]{6})", dm.text).group(1))
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("订单")


@pytest.mark.parametrize("form, question, status_after", [
    ("#form-cancel", "确定取消订单 #1 吗？", "cancelled"),
    ("#form-complete", "确定把订单 #1 标记为已完成吗？", "done"),
    ("#form-redispatch", "确定从 熊明祥 手里收回订单 #1", "dispatched"),
], ids=["cancel", "complete", "take-back"])
async def test_a_destructive_action_asks_first(browser, stack: Stack, form, question, status_after) -> None:  # noqa: F811
    grid1, market = room_id(stack, GRID1), room_id(stack, MARKET)
    await stack.gateway.inject_text(wid("张阿姨"), NEED, room_id=grid1)
    await stack.gateway.wait_for_sent(lambda r: r.room_id == grid1 and "#1" in r.text, timeout=10)
    await stack.gateway.inject_text(wid("杨先媚"), "派单1", room_id=grid1)
    await stack.gateway.wait_for_sent(lambda r: r.room_id == market and "【派单 #1】" in r.text, timeout=10)
    await stack.gateway.inject_text(wid("熊明祥"), "接1", room_id=market)
    await stack.gateway.wait_for_sent(lambda r: r.room_id == market and "接走" in r.text, timeout=10)

    page = await _page(browser, PHONE, dialogs=False)
    await _login(page, stack)
    await page.goto(stack.url + "/dash/orders/1")
    assert await page.locator("a.tel").first.get_attribute("href") == "tel:13908521234"
    answers = iter([False, True])
    asked: list[str] = []

    async def answer(dialog) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if next(answers) else dialog.dismiss())

    page.on("dialog", answer)
    await page.click(f"{form} button[type=submit]")  # "no": nothing happens
    async with stack.app.repo.transaction() as tx:
        assert (await tx.get_order("洗马社区", 1)).status == "taken"
    await page.click(f"{form} button[type=submit]")  # "yes"
    await page.wait_for_load_state()
    await _shot(page, f"dash-confirmed-{form[6:]}")
    assert len(asked) == 2 and question in asked[0]
    async with stack.app.repo.transaction() as tx:
        assert (await tx.get_order("洗马社区", 1)).status == status_after
