"""Queries, registration, authorization and malformed commands, as conversations."""

from __future__ import annotations

import dataclasses

import pytest

from storage.sqlite import SqliteTx
from tests.conftest import to_contact, to_room

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"


async def dispatched(grid1, n: int = 1) -> None:
    for i in range(1, n + 1):
        await grid1.say("张阿姨", NEED)
        await grid1.say("杨先媚", f"派单{i}")


@pytest.mark.parametrize(
    "room, who, text, expect",
    [
        (MARKET, "熊明祥", "派单", "派单格式"),
        (MARKET, "熊明祥", "接abc", "接单格式"),
        (GRID1, "杨先媚", "派单 9999", "没有找到订单 #9999"),
        (GRID1, "张阿姨", "派单 1", "只有本社区的网格员"),
        (GRID1, "杨先媚", "评价1 9", "评价格式"),
        (MARKET, "陌生人", "接1", "还没有登记"),
        (GRID1, "田慧", "派单 1", "只有本社区的网格员"),
        (GRID1, "李大爷", "取消1", "不是您发的单"),
        (GRID1, "李大爷", "完成1", "不是您接的单"),
        (GRID1, "张阿姨", "满意1", "还没有完成"),
        (GRID1, "熊明祥", "接1", "请在零工市场群里回复"),
        (None, "路人甲", "发单 修水管", "请在您所在的网格群"),
        (MARKET, "杨先媚", "指派 1 @不存在的人", "没有找到登记的零工"),
        (MARKET, "杨先媚", "通过 不存在的人", "没有找到登记的零工"),
        (MARKET, "路人甲", "登记 路人甲 123 搬家配送", "登记格式"),
        (MARKET, "路人甲", "登记 路人甲 13800002222 飞行", "没有「飞行」这个类别"),
    ],
    ids=["dispatch-no-number", "claim-letters", "dispatch-unknown-order", "resident-dispatches",
         "staff-of-other-community", "rating-out-of-range", "unregistered-claim", "stranger-cancels",
         "stranger-completes", "rate-before-done", "claim-outside-market", "post-in-dm",
         "assign-unknown-worker", "approve-unknown-worker", "register-bad-phone", "register-unknown-skill"],
)
async def test_bad_commands_get_one_clear_reply_and_change_nothing(chat, grid1, room, who, text, expect):
    await dispatched(grid1)
    before = [(o.status, o.taker_id, o.rating) for o in await chat.orders()]
    sent = await chat.say(room, who, text)
    assert len(sent) == 1, [s.text for s in sent]
    assert expect in sent[0].text
    assert sent[0].room == room and (room is None or sent[0].mentions == (chat.id(who),))
    assert [(o.status, o.taker_id, o.rating) for o in await chat.orders()] == before


async def test_suspended_worker_cannot_claim(chat, grid1, market):
    await dispatched(grid1)
    await market.say("杨先媚", "停用 熊明祥")
    sent = await market.say("熊明祥", "接1")
    assert "已暂停" in sent[0].text and (await chat.order(1)).status == "dispatched"


async def test_worker_at_max_active_is_refused(chat, grid1, market):
    await dispatched(grid1, 4)
    for no in (1, 2, 3):
        await market.say("熊明祥", f"接{no}")
    sent = await market.say("熊明祥", "接4")
    assert "3 张未完成" in sent[0].text and (await chat.order(4)).status == "dispatched"


async def test_the_limit_reached_between_check_and_claim_is_refused(chat, grid1, market, monkeypatch):
    """Another instance's claim committed after this one's check: the claim's own condition refuses."""
    await dispatched(grid1, 4)
    for no in (1, 2, 3):
        await market.say("熊明祥", f"接{no}")

    async def stale_count(self, worker_id):  # the count as it was before those claims committed
        return 0

    monkeypatch.setattr(SqliteTx, "count_active", stale_count)
    sent = await market.say("熊明祥", "接4")
    assert "3 张未完成" in sent[0].text and (await chat.order(4)).status == "dispatched"


@pytest.mark.parametrize("who, text", [("杨先媚", "指派 1 @韩德明"), ("杨先媚", "派单1"), ("张阿姨", "取消1"),
                                       ("熊明祥", "完成1"), ("熊明祥", "放弃1")])
async def test_a_change_that_lost_to_another_instance_is_not_announced(chat, grid1, market, monkeypatch, who, text):
    """The handler read the order before another instance changed it: only the update decides."""
    await dispatched(grid1)
    await market.say("熊明祥", "接1")
    stale = await chat.order(1)  # what this instance reads: taken by 熊明祥 (or still open)
    stale.status = {"派单1": "posted", "指派 1 @韩德明": "dispatched", "取消1": "dispatched"}.get(text, "taken")

    async def before_the_other_instance(self, community, no):
        return stale

    async with chat.app.repo.transaction() as tx:  # meanwhile, on another instance: 韩德明 took it over
        han = await tx.find_worker("洗马社区", name="韩德明")
        await tx.update_order(stale.id, {"taker_id": han.id})
    monkeypatch.setattr(SqliteTx, "get_order", before_the_other_instance)
    sent = await market.say(who, text)
    assert len(sent) == 1 and sent[0].mentions == (chat.id(who),), [s.text for s in sent]
    assert "已经有师傅接了" in sent[0].text or "不是您接的单" in sent[0].text
    monkeypatch.undo()
    after = await chat.order(1)
    assert (after.status, after.taker.name) == ("taken", "韩德明")


async def test_require_skill_refuses_other_categories(chat, grid1, market):
    from dataclasses import replace

    chat.app.config = replace(chat.app.config, dispatch=replace(chat.app.config.dispatch, require_skill=True))
    await grid1.say("张阿姨", "需要搬家，周六上午，电话13908521234")
    await grid1.say("杨先媚", "派单1")
    sent = await market.say("熊明祥", "接1")
    assert "技能" in sent[0].text and (await chat.order(1)).status == "dispatched"
    await market.say("曹志强", "接1")
    assert (await chat.order(1)).taker.name == "曹志强"


async def test_registration_approval_and_claim(chat, grid1, market, dm):
    sent = await market.say("欧阳华", "登记 欧阳华 13800001111 家政护工保洁 团队 家政三队")
    assert "审核" in sent[0].text
    assert "审核中" in (await market.say("欧阳华", "接1"))[0].text
    sent = await dm.say("杨先媚", "通过 欧阳华")
    assert to_contact(sent, "欧阳华") and "已通过" in to_contact(sent, "杨先媚")[0].text
    await dispatched(grid1)
    await market.say("欧阳华", "接1")
    order = await chat.order(1)
    assert order.taker.name == "欧阳华"
    assert order.taker.pledge_date == "2026-11-23" and order.taker.team == "家政三队"


async def test_help_depends_on_role(chat, grid1, market):
    assert "网格员指令" in (await grid1.say("杨先媚", "帮助"))[0].text
    assert "零工指令" in (await market.say("熊明祥", "菜单"))[0].text
    assert "居民发单" in (await grid1.say("张阿姨", "帮助"))[0].text


async def test_show_open_and_my_orders(chat, grid1, market):
    await dispatched(grid1, 2)
    await market.say("熊明祥", "接1")
    show = (await grid1.say("张阿姨", "查1"))[0].text
    assert "已接单" in show and "熊明祥" in show and "派单" in show and "13908521234" not in show
    open_list = (await market.say("韩德明", "待接单"))[0].text
    assert "#2" in open_list and "#1" not in open_list and "501" not in open_list
    assert "#1" in (await market.say("熊明祥", "我的订单"))[0].text
    mine = (await grid1.say("张阿姨", "我的订单"))[0].text
    assert "#1" in mine and "#2" in mine


async def test_tally_and_ranking(chat, grid1, market):
    await dispatched(grid1, 3)
    chat.clock.advance(5)
    await market.say("熊明祥", "接1")
    await market.say("韩德明", "接2")
    await market.say("熊明祥", "完成1")
    await market.say("韩德明", "完成2")
    await grid1.say("张阿姨", "评价1 4")
    tally = (await grid1.say("杨先媚", "今日统计"))[0].text
    assert "发单 3" in tally and "接单 2" in tally and "完成 2" in tally and "#3" in tally
    ranking = (await market.say("熊明祥", "接单王 今日"))[0].text
    assert ranking.index("熊明祥") < ranking.index("韩德明")


async def test_staff_cancel_tells_taker_market_and_resident(chat, grid1, market):
    await dispatched(grid1)
    await market.say("熊明祥", "接1")
    sent = await market.say("杨先媚", "取消 1 居民不需要了")
    assert to_contact(sent, "熊明祥") and to_room(sent, GRID1)
    assert (await chat.order(1)).cancel_reason == "居民不需要了"


async def test_auto_dispatch_posts_card_at_once(chat, grid1):
    from dataclasses import replace

    chat.app.config = replace(chat.app.config, dispatch=replace(chat.app.config.dispatch, auto=True))
    sent = await grid1.say("张阿姨", NEED)
    assert to_room(sent, MARKET) and (await chat.order(1)).status == "dispatched"


async def test_template_syntax_in_user_text_is_not_rendered(chat, grid1, market):
    await grid1.say("张阿姨", "需要修水管 {{7*7}} {% if 1 %}x{% endif %}，电话13908521234")
    sent = await grid1.say("杨先媚", "派单 1 备注 {{7*7}}")
    card = to_room(sent, MARKET)[0].text
    assert "{{7*7}}" in card and "49" not in card


async def test_handler_crash_is_answered_and_not_retried(chat, grid1, monkeypatch):
    from handlers import intake

    async def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    routes = chat.app.router.routes
    monkeypatch.setitem(routes, intake.PostNeed, dataclasses.replace(routes[intake.PostNeed], handler=boom))
    message = chat.message(GRID1, "张阿姨", NEED)
    sent = await chat.send(message)
    assert len(sent) == 1 and "稍后" in sent[0].text
    assert await chat.send(message) == [] and await chat.orders() == []


async def test_a_nickname_that_copies_a_staff_wxid_grants_nothing(config, tmp_path):
    """Bug (issue 11): with staff listed by WeChat id, a member who named themselves
    ``wxid_yang01`` matched the entry by display name and could dispatch."""
    from dataclasses import replace
    from datetime import datetime

    from bot.clock import FakeClock
    from bot.config import Person
    from storage.sqlite import SqliteRepository
    from tests.conftest import START, Chat

    community = config.communities[0]
    grids = (replace(community.grids[0], staff=(Person.of("wxid_yang01"),)), *community.grids[1:])
    config = replace(config, communities=(replace(community, grids=grids), *config.communities[1:]))
    repo = SqliteRepository(str(tmp_path / "ids.db"))
    await repo.open()
    chat = Chat.wire(config, repo, FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz))
    await chat.app.setup()
    try:
        grid = chat.group(GRID1)
        await grid.say("张阿姨", "需要修水管，阳光小区3栋2单元501室，电话13908521234", sender_id="wxid_zhang")
        sent = await grid.say("wxid_yang01", "派单1", sender_id="wxid_stranger")
        assert len(sent) == 1 and "只有本社区的网格员" in sent[0].text
        assert (await chat.order(1)).status == "posted"
        sent = await grid.say("杨先媚", "派单1", sender_id="wxid_yang01")
        assert (await chat.order(1)).status == "dispatched"
    finally:
        await repo.close()
