"""查N by role: the poster, the community's staff, the taker and admins see the order's progress
(taker and phone, timeline); anyone else sees only what the market card shows."""

from __future__ import annotations

import pytest

from tests.conftest import Chat, Group

NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234，我叫张桂芳"


@pytest.fixture
async def taken(chat: Chat, grid1: Group, market: Group) -> Chat:
    await grid1.say("张阿姨", NEED, sender_id="wxid_zhangayi")
    await grid1.say("杨先媚", "派单1")
    chat.clock.advance(5)
    await market.say("熊明祥", "接1")
    return chat


def full(text: str) -> bool:
    return "接单师傅：熊明祥" in text and "派单" in text and "接单" in text


@pytest.mark.parametrize(("room", "who", "sender_id"), [
    pytest.param("洗马社区第一网格群", "张阿姨", "wxid_zhangayi", id="poster"),
    pytest.param("洗马社区第一网格群", "杨先媚", None, id="grid-staff"),
    pytest.param("洗马社区零工市场群", "熊明祥", None, id="taker"),
    pytest.param(None, "糜伶", None, id="admin-dm"),
])
async def test_those_who_need_it_see_the_progress(taken: Chat, room, who, sender_id):
    (reply,) = await taken.say(room, who, "查1", sender_id=sender_id)
    assert full(reply.text), reply.text


@pytest.mark.parametrize(("room", "who", "sender_id"), [
    pytest.param("洗马社区零工市场群", "韩德明", None, id="another-worker"),
    pytest.param("洗马社区零工市场群", "路人", "wxid_passerby", id="market-member"),
    pytest.param("洗马社区第一网格群", "张阿姨", "wxid_impostor", id="same-name-other-id"),
    pytest.param(None, "路人", "wxid_passerby", id="stranger-dm"),
])
async def test_anyone_else_sees_only_the_card(taken: Chat, room, who, sender_id):
    replies = await taken.say(room, who, "查1", sender_id=sender_id)
    text = "\n".join(r.text for r in replies)
    assert "熊明祥" not in text and "139" not in text and "501" not in text and "张桂芳" not in text
    assert "#1" in text or "网格群" in text  # the card, or (outside any community) where to ask
