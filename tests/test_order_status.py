"""查12 shows an order's timeline in words, whatever happened to it."""

from __future__ import annotations

from bot.schedule.jobs import sweep

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"


async def test_timeline_names_reminders_and_followups_instead_of_event_codes(chat, grid1, market):
    """Bug: the scheduled jobs' events (stale_reminded, followup) appeared in 查12 as raw English codes."""
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单1")
    await market.say("熊明祥", "接1")
    chat.clock.advance(hours=25)
    await sweep(chat.app, chat.app.config.communities[0])  # taken a day ago: the stale reminder
    await market.say("熊明祥", "完成1")
    chat.clock.advance(hours=3)
    await sweep(chat.app, chat.app.config.communities[0])  # done hours ago: the follow-up
    await chat.outbox.flush()
    (text,) = [s.text for s in await grid1.say("张阿姨", "查1") if s.text.startswith("订单 #1")]
    assert "提醒完工" in text and "回访" in text
    assert "stale_reminded" not in text and "followup" not in text
