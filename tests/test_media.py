"""Voice notes and pictures: the resident hears back once, the grid's staff are told to listen.

People here have contact ids that differ from their display names (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import pid, to_contact, to_room

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"


async def test_a_residents_voice_note_is_acknowledged_and_the_grid_staff_are_told(chat, grid1) -> None:
    sent = await grid1.say("张阿姨", "", media="voice")
    (ack,) = to_room(sent, GRID1)
    assert ack.mentions == (pid("张阿姨"),) and "语音" in ack.text and "网格员" in ack.text
    told = [s for s in sent if s.contact]
    assert told and {s.contact for s in told} == set(chat.app.directory.staff_ids(
        chat.app.directory.room(GRID1, GRID1).community, "第一网格"))
    assert all("张阿姨" in s.text and GRID1 in s.text and "代发单" in s.text for s in told)
    assert await chat.orders() == []  # nothing is guessed from a note nobody has heard


@pytest.mark.parametrize("kind, word", [("voice", "语音"), ("image", "图片")], ids=["voice", "image"])
async def test_more_notes_soon_after_make_no_more_noise_but_later_ones_do(chat, grid1, kind, word) -> None:
    assert word in (await grid1.say("李大爷", "", media=kind))[0].text
    for _ in range(3):
        chat.clock.advance(minutes=2)
        assert await grid1.say("李大爷", "", media=kind) == []
    chat.clock.advance(minutes=11)
    assert to_room(await grid1.say("李大爷", "", media=kind), GRID1)


async def test_each_resident_is_acknowledged_on_their_own(grid1) -> None:
    assert to_room(await grid1.say("张阿姨", "", media="voice"), GRID1)
    assert to_room(await grid1.say("陈奶奶", "", media="voice"), GRID1)


@pytest.mark.parametrize("room, who", [(GRID1, "杨先媚"), (MARKET, "熊明祥"), (MARKET, "张阿姨")],
                         ids=["staff-in-their-grid", "worker-in-the-market", "resident-in-the-market"])
async def test_media_from_staff_or_in_the_market_group_is_left_alone(chat, room, who) -> None:
    assert await chat.say(room, who, "", media="voice") == []


async def test_a_voice_note_in_a_direct_chat_asks_for_text(dm) -> None:
    (reply,) = await dm.say("张阿姨", "", media="voice")
    assert reply.contact == pid("张阿姨") and "文字" in reply.text


async def test_a_duplicated_voice_event_is_handled_once(chat, grid1) -> None:
    message = chat.message(GRID1, "张阿姨", "", media="voice", msg_id="voice-1")
    first = await chat.send(message)
    chat.clock.advance(minutes=20)
    assert first and await chat.send(message) == []
    assert to_contact(first, "杨先媚")
