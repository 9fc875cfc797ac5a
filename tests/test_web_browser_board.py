"""The display board at the sizes it is shown on: a station TV (1920×1080), an old office monitor
(1366×768) and a phone (390×844), in Debian's Chromium, with screenshots.  Nothing may overflow
its column (no word cut off or wrapped in the middle of a cell), nor the screen sideways."""

from __future__ import annotations

import pytest

from tests.conftest import wid
from tests.stack import Stack
from tests.test_web_browser import _page, _shot, browser  # noqa: F401  (the fixture)
from tests.webstack import room_id, stack  # noqa: F401  (the fixture)

GRID1, GRID2, MARKET = "洗马社区第一网格群", "洗马社区第二网格群", "洗马社区零工市场群"
NEEDS = [
    (GRID1, "张阿姨", "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，明天上午，电话13908521234"),
    (GRID2, "周叔叔", "需要两个师傅帮忙搬家，丁字口搬到洗马路12号，周六上午，电话 139 8521 5678"),
    (GRID1, "李大爷", "老人明天去医院，需要陪诊，金鼎苑5幢1单元302室，电话13712345678"),
    (GRID2, "吴阿姨", "想请人打扫一下卫生，擦玻璃，龙腾苑小区B区12栋2单元1101室，下周三下午，电话13985523344"),
]


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768), (390, 844)], ids=["tv", "monitor", "phone"])
async def test_the_board_fits_each_screen(browser, stack: Stack, size) -> None:  # noqa: F811
    for room, who, text in NEEDS:
        rid = room_id(stack, room)
        await stack.gateway.inject_text(wid(who), text, room_id=rid)
        await stack.gateway.wait_for_sent(lambda r, rid=rid: r.room_id == rid and "收到" in r.text, timeout=10)
    await stack.gateway.inject_text(wid("杨先媚"), "派单1", room_id=room_id(stack, GRID1))
    await stack.gateway.wait_for_sent(lambda r: "【派单 #1】" in r.text, timeout=10)
    await stack.gateway.inject_text(wid("刘芳"), "派单2", room_id=room_id(stack, GRID2))
    await stack.gateway.wait_for_sent(lambda r: "【派单 #2】" in r.text, timeout=10)
    await stack.gateway.inject_text(wid("曹志强"), "接2", room_id=room_id(stack, MARKET))
    await stack.gateway.wait_for_sent(lambda r: "接走" in r.text, timeout=10)

    width, height = size
    page = await _page(browser, {"width": width, "height": height})
    await page.goto(stack.url + "/board")
    await page.wait_for_selector("#b-open li")
    await _shot(page, f"board-{width}x{height}", full_page=False)
    sideways = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert sideways <= 1, f"the board is {sideways}px wider than the screen"
    overflowing = await page.evaluate("""() => [...document.querySelectorAll(
        '#b-open li > span, #b-top li > span, .board-counts div, .board-head h1')]
        .filter(e => getComputedStyle(e).display !== 'none' && e.scrollWidth > e.clientWidth + 1)
        .map(e => e.className + ': ' + e.textContent)""")
    assert overflowing == [], overflowing
    split = await page.evaluate("""() => [...document.querySelectorAll('#b-open .cat, #b-open .no, #b-top .name')]
        .filter(e => e.getClientRects().length > 1 || e.getBoundingClientRect().height >
                     2.2 * parseFloat(getComputedStyle(e).lineHeight || getComputedStyle(e).fontSize))
        .map(e => e.textContent)""")
    assert split == [], f"cut in the middle: {split}"
