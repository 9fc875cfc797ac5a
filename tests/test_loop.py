"""The order loop as conversations: resident posts, staff dispatch, workers claim, done, rated."""

from __future__ import annotations

import asyncio

from tests.conftest import pid, to_contact, to_room

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234"


async def post_and_dispatch(grid1, extra: str = "") -> None:
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单 1" + extra)


async def test_resident_post_is_acknowledged_with_number_and_mention(chat, grid1):
    sent = await grid1.say("张阿姨", NEED)
    assert len(sent) == 1
    assert sent[0].room == GRID1 and sent[0].mentions == (pid("张阿姨"),)
    assert "#1" in sent[0].text and "家电水电维修" in sent[0].text
    order = await chat.order(1)
    assert order.status == "posted" and order.category == "家电水电维修"
    assert order.phones == ("13908521234",) and "501" in order.address
    assert order.raw_text == NEED


async def test_chit_chat_is_not_an_order(chat, grid1):
    assert await grid1.say("李大爷", "谢谢网格员昨天帮忙") == []
    assert await chat.orders() == []


async def test_dispatch_posts_masked_card_to_market(chat, grid1):
    await grid1.say("张阿姨", NEED)
    sent = await grid1.say("杨先媚", "派单 1 报酬80元 备注 自带工具")
    card = to_room(sent, MARKET)
    assert len(card) == 1
    text = card[0].text
    assert "#1" in text and "报酬：80元" in text and "自带工具" in text and "接1" in text
    assert "13908521234" not in text and "501" not in text and "阳光小区3栋" in text
    assert to_room(sent, GRID1), "the staff member is told where it went"
    assert (await chat.order(1)).status == "dispatched"


async def test_first_claim_wins_and_everyone_is_told(chat, grid1, market):
    await post_and_dispatch(grid1)
    chat.clock.advance(5)
    sent = await market.say("熊明祥", "接1")
    market_msgs = to_room(sent, MARKET)
    assert len(market_msgs) == 1 and "熊明祥" in market_msgs[0].text and "用时 5 秒" in market_msgs[0].text
    details = to_contact(sent, "熊明祥")
    assert len(details) == 1 and "13908521234" in details[0].text and "501" in details[0].text
    resident = to_room(sent, GRID1)
    assert resident[0].mentions == (pid("张阿姨"),) and "熊明祥" in resident[0].text
    assert "139****1234" in resident[0].text  # the worker's phone, masked
    order = await chat.order(1)
    assert order.status == "taken" and order.taker.name == "熊明祥" and order.claim_seconds == 5


async def test_late_claims_get_one_notice_naming_the_taker(chat, grid1, market):
    await post_and_dispatch(grid1)
    await market.say("熊明祥", "接1")
    chat.outbox.config = chat.outbox.config.__class__(min_interval=60, per_minute=1000)
    late = []
    for who in ("韩德明", "雷小军", "曹志强"):
        late += await market.say(who, "接1")
    chat.clock.advance(61)
    await chat.outbox.flush()
    notices = [s for s in chat.transport.sent if "已被" in s.text]
    assert len(notices) == 1 and "熊明祥" in notices[0].text
    assert set(notices[0].mentions) == {pid("韩德明"), pid("雷小军"), pid("曹志强")}


async def test_claim_storm_has_exactly_one_winner(chat, grid1, market):
    await post_and_dispatch(grid1)
    async with chat.app.repo.transaction() as tx:
        for i in range(200):
            await tx.add_worker({"community": "洗马社区", "name": f"工{i}", "wechat": f"w{i}",
                                 "phone": "13900000000", "skills": (), "team": None, "pledge_date": None,
                                 "status": "active", "registered_at": 0, "bound_at": 0})
    messages = [chat.message(MARKET, f"工{i}", "接1", sender_id=f"w{i}") for i in range(200)]
    await asyncio.gather(*(chat.app.process(m) for m in messages))
    await chat.outbox.flush()
    order = await chat.order(1)
    assert order.status == "taken"
    won = [s for s in chat.transport.sent if s.room == MARKET and "接走，用时" in s.text]
    late = [s for s in chat.transport.sent if "已被" in s.text]
    assert len(won) == 1 and order.taker.wechat in won[0].mentions
    # one notice: 20 @-mentions (what one WeChat message carries well), the other 179 counted
    assert len(late) == 1 and len(late[0].mentions) == 20 and "另有 179 位师傅也报了名" in late[0].text
    async with chat.app.repo.transaction() as tx:
        events = await tx.events_for(order.id)
    assert [e.kind for e in events].count("taken") == 1


async def test_bare_claim_takes_the_only_open_order(chat, grid1, market):
    await post_and_dispatch(grid1)
    await market.say("熊明祥", "接")
    assert (await chat.order(1)).taker.name == "熊明祥"


async def test_bare_claim_with_several_open_asks_which(chat, grid1, market):
    await post_and_dispatch(grid1)
    await grid1.say("陈奶奶", "有没有会陪诊的，明天上午去医院，电话13985550000")
    await grid1.say("杨先媚", "派单2")
    sent = await market.say("熊明祥", "接单")
    assert len(sent) == 1 and "#1" in sent[0].text and "#2" in sent[0].text
    assert (await chat.order(1)).status == "dispatched"


async def test_bare_claim_quoting_a_card_takes_that_order(chat, grid1, market):
    await post_and_dispatch(grid1)
    await grid1.say("陈奶奶", "有没有会陪诊的，明天上午去医院，电话13985550000")
    card = to_room(await grid1.say("杨先媚", "派单2"), MARKET)[0].text
    await market.say("蒋秀英", "接", quote=card)
    assert (await chat.order(2)).taker.name == "蒋秀英"
    assert (await chat.order(1)).status == "dispatched"


async def test_complete_then_rate(chat, grid1, market):
    await post_and_dispatch(grid1)
    await market.say("熊明祥", "接1")
    chat.clock.advance(3600)
    sent = await market.say("熊明祥", "完成1")
    ask = to_room(sent, GRID1)
    assert ask and ask[0].mentions == (pid("张阿姨"),) and "满意1" in ask[0].text
    sent = await grid1.say("张阿姨", "满意1")
    order = await chat.order(1)
    assert order.status == "done" and order.rating == 5
    assert "谢谢" in sent[0].text


async def test_unsatisfied_rating_alerts_grid_staff(chat, grid1, market):
    await post_and_dispatch(grid1)
    await market.say("熊明祥", "接1")
    await market.say("熊明祥", "完成1")
    sent = await grid1.say("张阿姨", "不满意1")
    alert = [s for s in sent if pid("杨先媚") in s.mentions]
    assert alert and "#1" in alert[0].text
    assert (await chat.order(1)).rating == 1


async def test_release_puts_the_order_back_on_the_market(chat, grid1, market):
    await post_and_dispatch(grid1)
    await market.say("熊明祥", "接1")
    sent = await market.say("熊明祥", "放弃1")
    assert any("重新派单" in s.text for s in to_room(sent, MARKET))
    await market.say("韩德明", "接1")
    assert (await chat.order(1)).taker.name == "韩德明"


async def test_resident_cancels_before_taken_but_not_after(chat, grid1, market):
    await grid1.say("张阿姨", NEED)
    sent = await grid1.say("张阿姨", "取消1 不用了")
    assert "已取消" in sent[0].text and (await chat.order(1)).status == "cancelled"
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单2")
    await market.say("熊明祥", "接2")
    sent = await grid1.say("张阿姨", "取消2")
    assert "联系网格员" in sent[0].text and (await chat.order(2)).status == "taken"


async def test_staff_assign_and_redispatch(chat, grid1, market):
    await grid1.say("张阿姨", NEED)
    sent = await grid1.say("杨先媚", "指派 1 @熊师傅")
    assert (await chat.order(1)).taker.name == "熊明祥"
    assert to_contact(sent, "熊明祥")
    sent = await grid1.say("杨先媚", "改派 1")
    assert to_contact(sent, "熊明祥") and any("重新派单" in s.text for s in to_room(sent, MARKET))
    order = await chat.order(1)
    assert order.status == "dispatched" and order.taker_id is None


async def test_duplicate_message_has_no_effect(chat, grid1):
    message = chat.message(GRID1, "张阿姨", NEED, msg_id="dup-1")
    first = await chat.send(message)
    second = await chat.send(message)
    assert len(first) == 1 and second == []
    assert len(await chat.orders()) == 1


async def test_direct_message_failure_falls_back_to_market_mention(chat, grid1, market):
    chat.transport.fail_direct.add(pid("熊明祥"))
    await post_and_dispatch(grid1)
    sent = await market.say("熊明祥", "接1")
    fallback = [s for s in sent if s.room == MARKET and "私信发不出去" in s.text]
    assert fallback and fallback[0].mentions == (pid("熊明祥"),)
    assert "13908521234" not in fallback[0].text
    async with chat.app.repo.transaction() as tx:
        rows = await tx.outbox_rows()
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["contact"] == pid("熊明祥")


async def test_regression_late_notice_mentioned_all_199_late_claimers(chat, grid1, market):
    """With real pacing late claimers came in one notice @-mentioning up to 199 people (1,816
    characters): now at most 20 @ per notice, the rest counted, and at most 2 notices per order."""
    await post_and_dispatch(grid1)
    await market.say("熊明祥", "接1")
    async with chat.app.repo.transaction() as tx:
        for i in range(60):
            await tx.add_worker({"community": "洗马社区", "name": f"工{i}", "wechat": f"w{i}",
                                 "phone": "13900000000", "skills": (), "team": None, "pledge_date": None,
                                 "status": "active", "registered_at": 0, "bound_at": 0})
    chat.outbox.config = chat.outbox.config.__class__(min_interval=60, per_minute=1000)
    for wave in (range(0, 25), range(25, 50), range(50, 60)):  # each wave sent before the next claims
        for i in wave:
            await chat.app.process(chat.message(MARKET, f"工{i}", "接1", sender_id=f"w{i}"))
        chat.clock.advance(61)
        await chat.outbox.flush()
    late = [s for s in chat.transport.sent if "已被" in s.text]
    assert len(late) == 2, "the third wave gets no third notice"
    assert [len(s.mentions) for s in late] == [20, 20]
    assert "另有 5 位师傅也报了名" in late[0].text and "另有 5 位师傅也报了名" in late[1].text
    assert set(late[0].mentions) == {f"w{i}" for i in range(20)}
    assert set(late[1].mentions) == {f"w{i}" for i in range(25, 45)}
