"""A need with no phone or no address: the resident is asked to give it privately (never in the
group) or wait for the staff's call, and the market card says 电话待补充."""

from __future__ import annotations

import pytest

from tests.conftest import to_room

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"


@pytest.mark.parametrize("need, asked, phone_missing", [
    ("发单 厨房水管漏水了，想找个师傅来修", "还没有留电话和地址", True),
    ("发单 厨房水管漏水了，阳光小区3栋2单元501室", "还没有留电话，", True),
    ("发单 厨房水管漏水了，电话13908521234", "还没有留地址，", False),
    ("发单 厨房水管漏水了，阳光小区3栋2单元501室，电话13908521234", None, False),
], ids=["neither", "no-phone", "no-address", "both"])
async def test_a_need_without_phone_or_address_asks_for_it_privately(grid1, need, asked, phone_missing) -> None:
    (ack,) = to_room(await grid1.say("张阿姨", need), GRID1)
    if asked is None:
        assert "还没有留" not in ack.text
    else:
        assert asked in ack.text and "私聊网格员（杨先媚、王晓红）" in ack.text and "不要发在群里" in ack.text
    (card,) = to_room(await grid1.say("杨先媚", "派单1"), MARKET)
    assert ("电话待补充" in card.text) is phone_missing


async def test_staff_phoning_a_need_in_without_a_phone_are_told_to_add_it(grid1) -> None:
    sent = await grid1.say("杨先媚", "代发单 李奶奶家灯不亮了，阳光小区5栋1单元302")
    assert any("还没有留电话" in s.text and "请补上后再派单" in s.text for s in sent)
