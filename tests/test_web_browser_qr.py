"""A QR resident's whole journey in Debian's Chromium on a phone-sized screen: the form, the done
page with its status link, the status page as the order is taken (the taker's phone to tap), and
a cancel confirmed in the browser's dialog.  Screenshots go to test-output/screenshots/."""

from __future__ import annotations

from tests.conftest import wid
from tests.stack import Stack
from tests.test_web_browser import PHONE, _page, _shot, browser  # noqa: F401  (the fixture)
from tests.webstack import room_id, stack  # noqa: F401  (the fixture)

MARKET = "洗马社区零工市场群"
GRID3 = "洗马社区第三网格群"


async def _order(page, stack: Stack, description: str, name: str = "") -> str:
    """Fill in and submit the form; the status page's address from the done page."""
    from playwright.async_api import expect

    await page.goto(stack.url + "/order/洗马社区?grid=第三网格")
    await page.fill("#description", description)
    await page.fill("#address", "金鼎苑5幢1单元302室")
    await page.fill("#phone", "13712345678")
    if name:
        await page.fill("#wechat_name", name)
    await page.click("button[type=submit]")
    await expect(page.locator("#status-link")).to_be_visible()
    return await page.locator("#status-link").get_attribute("href")


async def test_a_qr_resident_follows_the_order_until_taken_and_cancels_another(browser, stack: Stack) -> None:  # noqa: F811
    from playwright.async_api import expect

    page = await _page(browser, PHONE, dialogs=False)
    link = await _order(page, stack, "卫生间下水道堵了", name="张阿姨")
    await expect(page.locator("blockquote.ack")).to_contain_text("@张阿姨（扫码下单的居民）：收到您的需求")
    await _shot(page, "qr-done-with-status-link")
    await page.goto(link)
    await expect(page.locator("#qr-status")).to_have_attribute("data-status", "posted")
    await _shot(page, "qr-status-posted")

    grid3, market = room_id(stack, GRID3), room_id(stack, MARKET)
    await stack.gateway.inject_text(wid("孙丽"), "派单1", room_id=grid3)
    await stack.gateway.wait_for_sent(lambda r: r.room_id == market and "【派单 #1】" in r.text, timeout=10)
    await stack.gateway.inject_text(wid("熊明祥"), "接1", room_id=market)
    told = await stack.gateway.wait_for_sent(lambda r: r.room_id == grid3 and "已由" in r.text, timeout=10)
    assert told.mention_ids == () and told.text.startswith("@张阿姨（扫码下单的居民）：")
    await page.reload()
    await expect(page.locator("#qr-status")).to_have_attribute("data-status", "taken")
    tel = page.locator("a.tel")
    await expect(tel).to_have_attribute("href", "tel:13985201234")
    await expect(page.locator("button.danger")).to_have_count(0)
    await _shot(page, "qr-status-taken")

    link2 = await _order(page, stack, "想请人打扫一下卫生，擦玻璃")
    await page.goto(link2)
    dialogs: list[str] = []

    async def accept(dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await page.click("button.danger")
    await expect(page.locator("#qr-status")).to_have_attribute("data-status", "cancelled")
    assert dialogs and "确定取消订单 #2" in dialogs[0]
    await _shot(page, "qr-status-cancelled")
    async with stack.app.repo.transaction() as tx:
        assert (await tx.get_order("洗马社区", 2)).status == "cancelled"
