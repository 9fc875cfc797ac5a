"""Flood control: more than [flood] max_per_minute messages a minute from one sender are ignored,
with one notice to them and one alert to the staff per flood window (app clock, no sleeping)."""

from __future__ import annotations

import tomllib

import pytest

from bot.config import ConfigError, parse_config
from bot.flood import FloodGuard, Verdict
from tests.conftest import ROOT, pid

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋，电话13908521234"


def notices(sent, who):
    me = pid(who)
    return [s for s in sent if "暂停处理您的消息" in s.text and (s.contact == me or me in s.mentions)]


def alerts(sent):
    return [s for s in sent if "暂停处理此人的消息" in s.text]


async def flood(chat, room, who, text, n, every=1.0):
    sent = []
    for _ in range(n):
        sent += await chat.say(room, who, text)
        chat.clock.advance(every)
    return sent


async def test_fifty_needs_in_a_minute_make_twenty_orders_one_notice_and_one_staff_alert(chat):
    sent = await flood(chat, GRID1, "张阿姨", NEED, 50)
    assert len(await chat.orders()) == 20, "messages 21..50 had no effect"
    assert len([s for s in sent if "收到您的需求" in s.text]) == 20
    (notice,) = notices(sent, "张阿姨")
    assert notice.room == GRID1 and notice.mentions == (pid("张阿姨"),) and "20" in notice.text
    (alert,) = alerts(sent)
    assert alert.room == GRID1 and alert.mentions == (pid("杨先媚"), pid("王晓红")) and "张阿姨" in alert.text


async def test_ignored_messages_are_recorded_as_processed(chat):
    await flood(chat, GRID1, "张阿姨", NEED, 21)
    muted = chat.message(GRID1, "张阿姨", NEED, msg_id="muted-1")
    assert await chat.send(muted) == []
    chat.clock.advance(120)
    assert await chat.send(muted) == [], "the same message delivered again later is a duplicate, not an order"
    assert len(await chat.orders()) == 20
    rows = await chat.app.repo._db.execute_fetchall("SELECT actor, kind FROM events WHERE kind = 'flood'")
    assert [tuple(r) for r in rows] == [("张阿姨", "flood")]


async def test_a_muted_claim_takes_nothing(chat, grid1, market):
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单1")
    await flood(chat, MARKET, "熊明祥", "在吗", 20, every=0.5)
    sent = await market.say("熊明祥", "接1")
    assert notices(sent, "熊明祥") and (await chat.order(1)).status == "dispatched"
    (alert,) = alerts(sent)
    assert alert.room == MARKET and alert.mentions == (pid("糜伶"),), "market floods go to the community's admins"


async def test_direct_chat_flood_from_a_stranger_alerts_the_bot_admins(chat):
    sent = await flood(chat, None, "陌生人", "你好", 25)
    (notice,) = notices(sent, "陌生人")
    assert notice.contact == pid("陌生人")
    (alert,) = alerts(sent)
    assert alert.contact == pid("糜伶")


@pytest.mark.parametrize("who, room, text", [
    ("杨先媚", GRID1, "待接单"),
    ("糜伶", MARKET, "今日统计"),
    ("田慧", "茅草西一网格群", "待接单"),
], ids=["grid-staff", "admin", "staff-of-another-community"])
async def test_staff_and_admins_are_exempt(chat, who, room, text):
    sent = await flood(chat, room, who, text, 50, every=0.5)
    assert len(sent) == 50 and not alerts(sent) and not notices(sent, who)


async def test_one_notice_per_flood_window_then_back_to_normal(chat):
    sent = await flood(chat, GRID1, "李大爷", "在吗", 180)  # three minutes, one message a second
    assert len(notices(sent, "李大爷")) == 1 and len(alerts(sent)) == 1
    chat.clock.advance(61)
    assert "收到您的需求" in (await chat.say(GRID1, "李大爷", NEED))[0].text, "a quiet minute ends the window"
    sent = await flood(chat, GRID1, "李大爷", "在吗", 30)
    assert len(notices(sent, "李大爷")) == 1, "a new flood is a new window: a new notice"


async def test_other_senders_are_not_affected(chat):
    await flood(chat, GRID1, "张阿姨", "在吗", 30)
    assert "收到您的需求" in (await chat.say(GRID1, "陈奶奶", NEED))[0].text


# -- the guard on its own ------------------------------------------------------------------------

@pytest.mark.parametrize("times, expected", [
    ([0, 1, 2], "OOO"),
    ([0, 1, 2, 3], "OOOF"),
    ([0, 1, 2, 3, 4, 5], "OOOFMM"),
    ([0, 1, 2, 3, 70], "OOOFO"),
    ([0, 1, 2, 3, 30, 50, 62, 64], "OOOFMMMM"),
    ([0, 1, 2, 3, 64, 200, 201, 202, 203], "OOOFOOOOF"),
    ([0, 59, 60, 61], "OOOO"),
], ids=["under", "over", "muted-after", "window-ends", "still-flooding-extends", "new-window", "spread-out"])
def test_flood_guard_verdicts(times, expected):
    guard = FloodGuard(max_per_minute=3)
    letters = {Verdict.OK: "O", Verdict.FLOOD: "F", Verdict.MUTED: "M"}
    assert "".join(letters[guard.check("a", t)] for t in times) == expected


def test_flood_guard_forgets_quiet_senders():
    guard = FloodGuard(max_per_minute=3)
    for i in range(5000):
        guard.check(f"s{i}", float(i) / 100)
    for i in range(1000):
        guard.check("late", 1000.0 + i)
    assert len(guard._senders) < 100


# -- config --------------------------------------------------------------------------------------

def demo() -> dict:
    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def test_flood_default_and_demo_value():
    data = demo()
    assert parse_config(data).flood.max_per_minute == 20
    data.pop("flood")
    assert parse_config(data).flood.max_per_minute == 20


@pytest.mark.parametrize("section, message", [
    ({"max_per_minute": 0}, "config.toml: flood.max_per_minute: must be at least 1"),
    ({"max_per_minute": "20"}, "config.toml: flood.max_per_minute: expected a whole number"),
    ({"max_per_minute": True}, "config.toml: flood.max_per_minute: expected a whole number"),
    ({"max_per_minut": 20}, "config.toml: flood.max_per_minut: unknown key"),
], ids=["zero", "text", "bool", "typo"])
def test_bad_flood_config_names_the_key(section, message):
    data = demo()
    data["flood"] = section
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert str(err.value).startswith(message)
