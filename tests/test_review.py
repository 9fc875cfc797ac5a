"""Intake through the classifier: sure needs become orders, unsure ones go to the grid's staff
(待确认: 确认N / 确认N 类别 / 不是N / 派单N), non-needs are silent, two needs make two orders.

The messages are the issue's examples (written by someone who never saw the parser) and a table
of hard non-needs; the model is the one the bot trains from the repository's corpus.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import pid, to_room

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
UNCERTAIN = "家里的灯一闪一闪的"  # the model is not sure (about 0.5): a review
STAFF1 = ("杨先媚", "wxid_yang")  # (display name, contact id) of the first grid's staff


async def labels(chat):
    async with chat.repo.transaction() as tx:
        return await tx.intake_labels("洗马社区")


async def test_an_uncertain_need_goes_to_the_grid_staff_and_confirming_tells_the_resident(chat, grid1, dm):
    sent = await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    assert to_room(sent, GRID1) == [], "nothing is said in the group while staff decide"
    asks = [s for s in sent if s.contact is not None]
    assert {s.contact for s in asks} == {pid("杨先媚"), pid("王晓红")}, "each staff member of the grid, by direct message"
    assert "可能是需求 #1" in asks[0].text and "确认1" in asks[0].text and "不是1" in asks[0].text
    assert "家电水电维修" in asks[0].text
    assert (await chat.order(1)).status == "pending_review"

    sent = await dm.say("杨先媚", "确认1")
    ack = to_room(sent, GRID1)
    assert len(ack) == 1 and ack[0].mentions == ("wxid_zhang",) and "#1" in ack[0].text
    assert any(s.contact == pid("杨先媚") and "已确认 #1" in s.text for s in sent)
    assert (await chat.order(1)).status == "posted"
    [label] = await labels(chat)
    assert (label["need"], label["category"], label["decision"], label["text"]) == (
        True, "家电水电维修", "confirmed", UNCERTAIN)


async def test_confirm_with_a_category_corrects_it(chat, grid1, dm):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    await dm.say("杨先媚", "确认1 搬家配送")
    order = await chat.order(1)
    assert (order.status, order.category) == ("posted", "搬家配送")
    assert [(x["decision"], x["category"]) for x in await labels(chat)] == [("corrected", "搬家配送")]


async def test_confirm_with_an_unknown_category_changes_nothing(chat, grid1, dm):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    sent = await dm.say("杨先媚", "确认1 修飞机")
    assert len(sent) == 1 and "没有「修飞机」这个类别" in sent[0].text
    assert (await chat.order(1)).status == "pending_review"
    assert await labels(chat) == []


async def test_dismissing_says_nothing_to_the_group_and_is_kept_as_a_non_need(chat, grid1, dm):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    sent = await dm.say("王晓红", "不是1")
    assert [s.contact for s in sent] == [pid("王晓红")] and "已忽略 #1" in sent[0].text
    assert (await chat.order(1)).status == "dismissed"
    [label] = await labels(chat)
    assert (label["need"], label["category"], label["decision"]) == (False, None, "dismissed")
    sent = await dm.say("杨先媚", "确认1")
    assert "已经忽略" in sent[0].text, "a dismissed order cannot be confirmed afterwards"


async def test_dispatching_a_pending_order_confirms_it(chat, grid1, dm):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    sent = await grid1.say("杨先媚", "派单1")
    assert any(s.room == GRID1 and s.mentions == ("wxid_zhang",) and "#1" in s.text for s in sent)
    assert any(s.room == MARKET and "派单 #1" in s.text for s in sent)
    assert (await chat.order(1)).status == "dispatched"
    assert [x["decision"] for x in await labels(chat)] == ["dispatched"]


@pytest.mark.parametrize("who, sender_id, reason", [
    pytest.param("张阿姨", "wxid_zhang", "只有本社区的网格员", id="the-resident"),
    pytest.param("韩德明", None, "只有本社区的网格员", id="a-worker"),
    pytest.param("田慧", None, "没有找到订单", id="staff-of-another-community"),
])
async def test_only_staff_of_that_community_may_confirm(chat, grid1, dm, who, sender_id, reason):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    for text in ("确认1", "不是1"):
        sent = await dm.say(who, text, sender_id=sender_id)
        assert len(sent) == 1 and reason in sent[0].text, sent[0].text
    assert (await chat.order(1)).status == "pending_review"
    assert await labels(chat) == []


async def test_a_pending_order_cannot_be_claimed(chat, grid1, market):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    sent = await market.say("熊明祥", "接1")
    assert "还没有派单" in sent[0].text
    assert (await chat.order(1)).status == "pending_review"


async def test_pending_and_dismissed_orders_are_not_counted_as_needs(chat, grid1, dm):
    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    await grid1.say("李大爷", "家里的灯一闪一闪的 不晓得是不是线路问题", sender_id="wxid_li")
    await dm.say("杨先媚", "不是1")
    sent = await grid1.say("杨先媚", "今日统计")
    assert "发单 0" in sent[0].text, sent[0].text


@pytest.mark.parametrize("text, category", [
    pytest.param("哪个师傅得空 帮我看哈厕所 冲不下去了", "管道疏通", id="dialect-toilet"),
    pytest.param("门打不开了 钥匙插进去转不动 哪个来帮下忙", "开锁换锁", id="lock"),
    pytest.param("我爸明天早上8点要去遵医附院复查 有没有人能陪他去一下", "陪诊代办", id="for-father"),
    pytest.param("网上买了个衣柜 自己装不来 有没有会装的 周六上午 200以内", "家具安装", id="wardrobe"),
    pytest.param("热水气坏了 洗不成澡 今晚能来不", "家电水电维修", id="homophone"),
    pytest.param("冰箱要搬到新家去 明天下午 电话13985012345", "搬家配送", id="moving-a-fridge-is-moving"),
])
async def test_needs_the_old_parser_missed_become_orders(chat, grid1, text, category):
    sent = await grid1.say("张阿姨", text, sender_id="wxid_zhang")
    assert len(to_room(sent, GRID1)) == 1 and "订单号 #1" in sent[0].text
    order = await chat.order(1)
    assert (order.status, order.category) == ("posted", category)


HARD_NON_NEEDS = [
    pytest.param("专业开锁换锁 公安备案 24小时上门 电话13985012345", id="advert"),
    pytest.param("招聘保洁员两名 包午餐 有意者联系13985012345", id="job-post"),
    pytest.param("我可以去 我是做水电的 电话13985012345", id="worker-answering"),
    pytest.param("有没有人晓得开锁一般多少钱", id="price-question"),
    pytest.param("有没有要旧家具的 免费送 要自己搬走", id="giveaway"),
    pytest.param("现在请个保姆好贵哦", id="chit-chat"),
    pytest.param("谢谢张师傅 水管修好了 很负责", id="thanks"),
    pytest.param("明天上午9点到12点停水 请大家提前储水", id="staff-notice"),
    pytest.param("谁的钥匙掉在3栋楼下了 来物业领", id="lost-and-found"),
    pytest.param("已经修好了 不用了 谢谢大家", id="solved"),
]


@pytest.mark.parametrize("text", HARD_NON_NEEDS)
async def test_hard_non_needs_never_make_an_order(chat, grid1, text):
    sent = await grid1.say("李大爷", text, sender_id="wxid_li")
    assert to_room(sent, GRID1) == []
    assert [o.status for o in await chat.orders() if o.status != "pending_review"] == []


async def test_two_needs_in_one_message_make_two_orders(chat, grid1):
    sent = await grid1.say("张阿姨", "下周要搬家 还要请人装一下床和衣柜 阳光小区3栋", sender_id="wxid_zhang")
    assert len(to_room(sent, GRID1)) == 2
    assert sorted(o.category for o in await chat.orders()) == ["家具安装", "搬家配送"]


async def test_an_explicit_marker_wins_over_the_model(chat, grid1):
    sent = await grid1.say("张阿姨", "发单 我家热水器最近有点怪", sender_id="wxid_zhang")
    assert "订单号 #1" in to_room(sent, GRID1)[0].text
    assert (await chat.order(1)).status == "posted"


async def test_unanswered_reviews_are_in_the_staffs_evening_list(chat, grid1, dm):
    from datetime import datetime

    from bot.schedule.jobs import run_report

    await grid1.say("张阿姨", UNCERTAIN, sender_id="wxid_zhang")
    await grid1.say("李大爷", "厕所有点味道", sender_id="wxid_li")
    await dm.say("杨先媚", "不是2")
    chat.clock.set(datetime(2026, 11, 23, 20, 0))
    community = chat.app.config.communities[0]
    before = len(chat.transport.sent)
    assert await run_report(chat.app, "daily_tally", community, chat.clock.now())
    await chat.outbox.flush()
    lists = [s for s in chat.transport.sent[before:] if s.contact in (pid("杨先媚"), pid("王晓红"))]
    assert len(lists) == 2 and all("1 条待确认" in s.text and "#1" in s.text and "#2" not in s.text for s in lists)
    assert "确认+单号" in lists[0].text


async def test_staff_decisions_export_as_corpus_lines_with_contact_data_masked(chat, grid1, dm, tmp_path, capsys):
    from bot.cli import main
    from handlers.corpus import load_corpus
    from tests.conftest import ROOT

    await grid1.say("张阿姨", "家里的灯一闪一闪的 501室 13908521234", sender_id="wxid_zhang")
    assert (await chat.order(1)).status == "pending_review"
    await dm.say("杨先媚", "确认1 家电水电维修")
    await grid1.say("李大爷", "厕所有点味道", sender_id="wxid_li")
    await dm.say("杨先媚", "不是2")
    out = tmp_path / "labels.jsonl"
    argv = ["--config", str(ROOT / "config.toml"), "intake", "export", "--db", chat.repo.path, "--out", str(out)]
    assert await asyncio.to_thread(main, argv) == 0  # the command runs its own event loop
    examples = load_corpus(out, [c.name for c in chat.app.config.categories])
    assert [(e.need, e.categories) for e in examples] == [(True, ("家电水电维修",)), (False, ())]
    text = out.read_text(encoding="utf-8")
    assert "13908521234" not in text and "501" not in text and "139****1234" in text
