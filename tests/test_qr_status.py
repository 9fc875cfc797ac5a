"""QR-code residents kept informed: never an @ of an unknown contact in the group, and their own
status page (progress, the taker's name and full phone, cancel while untaken, a rating when done).

Regression: the group got "收到您的需求…" and "您的订单 #5 已由 袁锁匠 师傅接单…" @-mentioning a
``qr-…`` id WeChat does not know (messages addressed to nobody), and the done page told the QR
resident to reply 「取消5」, which they cannot."""

from __future__ import annotations

import re

from tests.conftest import Chat, to_contact
from tests.webkit import MARKET, Web, web  # noqa: F401

GRID3 = "洗马社区第三网格群"
PHONE = "13712345678"
ORDER = {"grid": "第三网格", "category": "家电水电维修", "description": "卫生间热水器不出热水",
         "address": "金鼎苑5幢1单元302室", "phone": PHONE, "time_wish": "明天上午"}


async def place(web: Web, **extra: str) -> tuple[str, str]:
    """Submit the form; (the done page, the status page's path)."""
    await web.get("/order/洗马社区")
    status, text = await web.post("/order/洗马社区", ORDER | extra)
    assert status == 200, text
    link = re.search(r'id="status-link" href="[^"]*?(/s/[A-Za-z0-9_-]+)"', text).group(1)
    return text, link


def no_unknown_mentions(sent: list) -> None:
    assert all(not m.startswith("qr-") for s in sent for m in s.mentions), [s for s in sent if s.mentions]


async def test_group_messages_of_a_qr_order_never_at_an_unknown_contact(web: Web, chat: Chat) -> None:  # noqa: F811
    _, link = await place(web)
    sent = await web.sent()
    await chat.say(GRID3, "孙丽", "派单1")
    await chat.say(MARKET, "熊明祥", "接1")
    sent += await web.sent()
    taken = [s for s in sent if s.room == GRID3 and "已由" in s.text]
    assert taken and taken[0].text.startswith("扫码下单的居民：") and taken[0].mentions == ()
    await chat.say(MARKET, "熊明祥", "完成1")
    sent += await web.sent()
    (done,) = [s for s in sent if s.room == GRID3 and "已完成" in s.text]
    assert "页面上打分" in done.text and "回复「满意1」" not in done.text
    no_unknown_mentions(sent)


async def test_the_wechat_name_from_the_form_names_the_resident_in_the_group(web: Web, chat: Chat) -> None:  # noqa: F811
    text, _ = await place(web, wechat_name="张阿姨")
    assert "@张阿姨（扫码下单的居民）：收到您的需求" in text and "回复「取消" not in text
    (ack,) = await web.sent()
    assert ack.mentions == () and ack.text.startswith("@张阿姨（扫码下单的居民）：")
    assert (await chat.order(1)).resident_name == "张阿姨"


async def test_the_status_page_follows_the_order_and_shows_the_takers_full_phone(web: Web, chat: Chat) -> None:  # noqa: F811
    done_page, link = await place(web)
    assert "<svg" in done_page and link in done_page  # the link, also as a QR code
    status, text = await web.get(link)
    assert status == 200 and 'data-status="posted"' in text and "取消订单" in text
    await chat.say(GRID3, "孙丽", "派单1")
    await chat.say(MARKET, "熊明祥", "接1")
    status, text = await web.get(link)
    worker = (await chat.order(1)).taker
    assert 'data-status="taken"' in text and worker.name in text
    assert f'href="tel:{worker.phone}"' in text and f">{worker.phone}<" in text  # in full, tap to call
    assert "取消订单" not in text  # taken: only the staff can cancel now


async def test_cancelling_on_the_status_page_is_the_residents_own_cancel(web: Web, chat: Chat) -> None:  # noqa: F811
    _, link = await place(web)
    await web.sent()
    await chat.say(GRID3, "孙丽", "派单1")
    await web.sent()
    status, _ = await web.post(link + "/cancel", {})
    assert status == 302
    order = await chat.order(1)
    assert order.status == "cancelled" and "扫码下单页面" in order.cancel_reason
    sent = await web.sent()
    assert any(s.room == MARKET and "#1" in s.text for s in sent)  # the market is told
    assert any(s.room == GRID3 and s.text.startswith("扫码下单的居民：") for s in sent)
    no_unknown_mentions(sent)
    async with chat.repo.transaction() as tx:
        assert [e.kind for e in await tx.events_for(order.id)].count("cancelled") == 1
    status, text = await web.get(link)
    assert 'data-status="cancelled"' in text and "取消订单" not in text


async def test_rating_on_the_status_page_once_done(web: Web, chat: Chat) -> None:  # noqa: F811
    _, link = await place(web)
    await chat.say(GRID3, "孙丽", "派单1")
    await chat.say(MARKET, "熊明祥", "接1")
    await chat.say(MARKET, "熊明祥", "完成1")
    status, text = await web.get(link)
    assert 'name="score" value="5"' in text
    assert (await web.post(link + "/rate", {"score": "4"}))[0] == 302
    assert (await chat.order(1)).rating == 4
    _, text = await web.get(link)
    assert "您的评价：4 分" in text and 'name="score"' not in text


async def test_an_unknown_or_forged_token_shows_nothing(web: Web, chat: Chat) -> None:  # noqa: F811
    await place(web)
    for path in ("/s/not-a-token", "/s/" + "A" * 24, "/s/" + "x" * 200):
        status, text = await web.get(path)
        assert status == 404 and PHONE not in text, path
    assert (await web.post("/s/not-a-token/cancel", {}))[0] == 404
    assert (await chat.order(1)).status != "cancelled"


async def test_staff_who_phoned_a_need_in_get_the_takers_full_phone(chat: Chat, grid1, market) -> None:
    await grid1.say("杨先媚", "代发单 李奶奶家水管漏水，阳光小区3栋2单元501室，电话13908521234")
    await grid1.say("杨先媚", "派单1")
    sent = await market.say("熊明祥", "接1")
    worker = (await chat.order(1)).taker
    (dm,) = to_contact(sent, "杨先媚")
    assert worker.phone in dm.text and "转告" in dm.text


async def test_a_resident_the_bot_can_message_gets_the_takers_full_phone_privately(chat: Chat, grid1, market) -> None:
    from tests.conftest import pid

    chat.app.scope.contacts = frozenset({pid("张阿姨")})  # a friend of the bot's account (listed at login)
    await grid1.say("张阿姨", "发单 厨房水管漏水了，阳光小区3栋2单元501室，电话13908521234")
    await grid1.say("杨先媚", "派单1")
    sent = await market.say("熊明祥", "接1")
    phone = (await chat.order(1)).taker.phone
    (dm,) = to_contact(sent, "张阿姨")
    assert phone in dm.text
    assert all(phone not in s.text for s in sent if s.room is not None)  # masked in every group
    await grid1.say("李大爷", "发单 家里跳闸了，插座没电，阳光小区4栋2单元1303室，电话13966083641")
    await grid1.say("杨先媚", "派单2")
    sent = await market.say("韩德明", "接2")
    assert to_contact(sent, "李大爷") == []  # not a contact of the bot: the group message is all he gets
