"""End to end: the real wechaty client <-> gRPC on loopback <-> the local gateway.

A fake app records every IncomingMessage and can reply through the transport.  Waits
are on queues and events with timeouts; the only sleeps are a few tenths of a second
while the gateway is deliberately down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

from bot.clock import SystemClock
from bot.gateway import MSG_IMAGE, Contact, Gateway, Room, World
from bot.transport import IncomingMessage, SendError
from bot.wechat.bot import WechatyBot
from bot.wechat.support import ReadyInfo, Timings

BOT = "wxid_bot"
ZHANG, LI, WANG = "wxid_zhang", "wxid_li", "wxid_wang"
R1, R2 = "r1@chatroom", "r2@chatroom"
GROUPS = ["城西零工群", R2, "不存在的群"]
SEP = "- - - - - - - - - - - - - - -"
FAST = Timings(
    ding_interval=0.1,
    event_deadline=1.0,
    rpc_timeout=1.0,
    connect_timeout=1.0,
    backoff_initial=0.05,
    backoff_factor=2.0,
    backoff_max=0.3,
    send_ready_wait=3.0,
    cache_ttl=60.0,
    shutdown_grace=1.0,
)
BACK_WITHIN = 5.0  # seconds the bot may take to be back after the gateway returns

pytestmark = pytest.mark.asyncio


def make_world() -> World:
    return World(
        bot_id=BOT,
        bot_name="零工助手",
        contacts=[Contact(ZHANG, "张三"), Contact(LI, "李四"), Contact(WANG, "王五", friend=False)],
        rooms=[
            Room(R1, "城西零工群", [ZHANG, LI, WANG], {ZHANG: "张师傅", BOT: "派单助手"}),
            Room(R2, "闲聊群", [LI]),
        ],
    )


class Harness:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.bot: WechatyBot
        self.received: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self.ready: asyncio.Queue[ReadyInfo] = asyncio.Queue()
        self.lost: asyncio.Queue[str] = asyncio.Queue()
        self.reply: Callable[[IncomingMessage], Awaitable[None]] | None = None

    async def process(self, msg: IncomingMessage) -> None:
        await self.received.put(msg)
        if self.reply is not None:
            await self.reply(msg)

    async def next_message(self, timeout: float = 5.0) -> IncomingMessage:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def next_ready(self, timeout: float = BACK_WITHIN) -> ReadyInfo:
        return await asyncio.wait_for(self.ready.get(), timeout)

    async def next_lost(self, timeout: float = 5.0) -> str:
        return await asyncio.wait_for(self.lost.get(), timeout)

    async def roundtrip(self, text: str = "还在吗") -> IncomingMessage:
        """A room message from 张三 that must reach the app."""
        msg_id = await self.gw.inject_text(ZHANG, text, room_id=R1)
        msg = await self.next_message()
        assert (msg.id, msg.text) == (msg_id, text)
        return msg


@contextlib.contextmanager
def occupy_port_5000() -> AsyncIterator[None]:
    """Hold wechaty's default plugin-server port, to show the bot does not need it."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 5000))
        sock.listen()
    except OSError:
        pass  # already taken by something else: just as good
    try:
        yield
    finally:
        sock.close()


@pytest_asyncio.fixture
async def harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Harness]:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty-cache"))
    monkeypatch.chdir(tmp_path)
    gw = Gateway(make_world())
    await gw.start()
    h = Harness(gw)
    h.bot = WechatyBot(
        h.process,
        GROUPS,
        gw.endpoint,
        "linggong-local",
        on_ready=h.ready.put_nowait,
        on_disconnect=h.lost.put_nowait,
        timings=FAST,
        data_dir=str(tmp_path / "data"),
        clock=SystemClock(timezone(timedelta(hours=8))),
    )
    with occupy_port_5000():
        h.bot.start()
        info = await h.next_ready()
        assert info.login_count == 1
        yield h
        await h.bot.stop()
        await gw.stop()
    assert not (tmp_path / ".wechaty").exists()


async def test_login_resolves_groups_and_reports_missing_ones(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    info = harness.bot.info
    assert info is not None
    assert (info.self_id, info.self_name) == (BOT, "零工助手")
    assert dict(info.rooms) == {"城西零工群": R1, R2: R2}
    assert info.missing == ("不存在的群",)
    errors = [r.getMessage() for r in caplog.get_records("setup") if r.levelno >= logging.ERROR]
    assert any("不存在的群" in e for e in errors)


async def test_room_message_with_alias_mentions_and_quote(harness: Harness) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    text = f"「零工助手：#12 搬家 明早8点」\n{SEP}\n@派单助手\u2005@李四\u2005我来"
    msg_id = await harness.gw.inject_text(ZHANG, text, room_id=R1, mention_ids=[BOT, LI])
    msg = await harness.next_message()
    assert msg.id == msg_id
    assert (msg.room_id, msg.room_topic) == (R1, "城西零工群")
    assert (msg.sender_id, msg.sender_name) == (ZHANG, "张师傅")  # the group alias wins
    assert msg.text == "@李四\u2005我来"  # only the bot's own leading mention is removed
    assert msg.mentions == (LI,)
    assert msg.quote == "零工助手：#12 搬家 明早8点"
    assert not msg.is_direct
    assert msg.at.tzinfo is not None and msg.at.utcoffset() == timedelta(hours=8)
    assert before <= msg.at <= datetime.now(UTC) + timedelta(seconds=1)

    # no alias in the group: the contact's own name; mentioned by the bot's own name
    await harness.gw.inject_text(LI, "@零工助手 报名", room_id=R1, mention_ids=[BOT])
    msg = await harness.next_message()
    assert (msg.sender_name, msg.text, msg.mentions, msg.quote) == ("李四", "报名", (), None)


async def test_direct_message(harness: Harness) -> None:
    await harness.gw.inject_text(LI, "我想接单")
    msg = await harness.next_message()
    assert msg.is_direct
    assert (msg.room_id, msg.room_topic, msg.sender_id, msg.sender_name) == (None, None, LI, "李四")
    assert msg.text == "我想接单"


async def test_replies_reach_the_gateway(harness: Harness) -> None:
    transport = harness.bot.transport

    async def reply(msg: IncomingMessage) -> None:
        await transport.send_room("城西零工群", f"收到：{msg.text}", (msg.sender_id, LI))

    harness.reply = reply
    start = len(harness.gw.sent)
    await harness.gw.inject_text(ZHANG, "接单 #12", room_id=R1)
    record = await harness.gw.wait_for_sent(start=start)
    assert record.conversation_id == R1 and record.room_id == R1
    assert record.text == "@张师傅\u2005@李四\u2005收到：接单 #12"
    assert record.mention_ids == (ZHANG, LI)
    harness.reply = None

    # by room id and by contact id (never by a contact's name: see the regression test below)
    await transport.send_room(R2, "大家好")
    await transport.send_direct(LI, "你被派到 #12")
    sent = harness.gw.sent[start + 1 :]
    assert [(s.room_id, s.contact_id, s.text, s.mention_ids) for s in sent] == [
        (R2, None, "大家好", ()),
        (None, LI, "你被派到 #12", ()),
    ]


async def test_login_lists_the_contacts_the_bot_can_message(harness: Harness) -> None:
    info = harness.bot.info
    assert info is not None
    assert info.contacts == {ZHANG, "张三", LI, "李四"}  # 王五 is not a friend


async def test_held_sends_wait_until_released(harness: Harness) -> None:
    harness.gw.hold_sends()
    send = asyncio.create_task(harness.bot.transport.send_direct(LI, "稍后送达"))
    await harness.gw.wait_for_held_sends(1)
    assert harness.gw.sent == [] and not send.done()
    await harness.roundtrip()  # everything else still answers
    harness.gw.release_sends()
    await asyncio.wait_for(send, 5.0)
    assert [s.text for s in harness.gw.sent] == ["稍后送达"] and harness.gw.held_sends == 0


async def test_undeliverable_sends_raise_permanent_errors(harness: Harness) -> None:
    transport = harness.bot.transport
    with pytest.raises(SendError) as not_friend:
        await transport.send_direct(WANG, "你好")
    assert not_friend.value.permanent
    harness.gw.set_friend(LI, False)
    with pytest.raises(SendError) as unfriended:
        await transport.send_direct(LI, "你好")
    assert unfriended.value.permanent
    with pytest.raises(SendError) as unknown_contact:
        await transport.send_direct("wxid_nobody", "你好")
    assert unknown_contact.value.permanent
    with pytest.raises(SendError) as unknown_group:
        await transport.send_room("不存在的群", "你好")
    assert unknown_group.value.permanent
    assert harness.gw.sent == []


async def test_gateway_refusal_is_permanent_without_the_friend_check(harness: Harness) -> None:
    harness.bot.check_friend = False
    with pytest.raises(SendError) as refused:
        await harness.bot.transport.send_direct(WANG, "你好")
    assert refused.value.permanent
    assert "not a friend" in refused.value.reason


async def test_own_and_duplicate_messages_are_ignored_and_a_picture_comes_as_media(harness: Harness) -> None:
    await harness.bot.transport.send_room("城西零工群", "派单 #13")  # echoed back by the gateway
    await harness.gw.inject_text(BOT, "从手机上发的", room_id=R1)
    image = await harness.gw.inject_message(ZHANG, "<img/>", room_id=R1, msg_type=MSG_IMAGE)
    first = await harness.gw.inject_text(ZHANG, "第一条", room_id=R1, msg_id="dup-1")
    await harness.gw.inject_text(ZHANG, "第一条", room_id=R1, msg_id="dup-1")
    picture = await harness.next_message()
    assert (picture.id, picture.media, picture.text) == (image, "image", "")  # for the grid staff (media.py)
    assert (await harness.next_message()).id == first
    await harness.roundtrip("标记")
    assert harness.received.empty()


async def test_back_after_gateway_crash_and_restart_on_the_same_port(harness: Harness) -> None:
    task = harness.bot.start()
    port = harness.gw.port
    await harness.gw.crash()
    assert "Connection lost" in await harness.next_lost()
    await asyncio.sleep(0.3)  # down for a few reconnection attempts
    returned = time.monotonic()
    await harness.gw.restart()
    assert harness.gw.port == port
    info = await harness.next_ready()
    assert info.login_count == 2 and dict(info.rooms)["城西零工群"] == R1
    await harness.roundtrip("重启后")
    assert time.monotonic() - returned < BACK_WITHIN
    assert harness.bot.start() is task and not task.done()  # the same run, never restarted


async def test_send_during_an_outage_waits_for_the_reconnection(harness: Harness) -> None:
    await harness.gw.crash()
    await harness.next_lost()
    send = asyncio.create_task(harness.bot.transport.send_room("城西零工群", "迟到的通知"))
    await asyncio.sleep(0.2)
    assert not send.done()
    await harness.gw.restart()
    await asyncio.wait_for(send, BACK_WITHIN)
    assert harness.gw.sent[-1].text == "迟到的通知"


async def test_back_after_the_event_stream_ends_cleanly(harness: Harness) -> None:
    harness.gw.end_streams()
    assert "closed the event stream" in await harness.next_lost()
    assert (await harness.next_ready()).login_count == 2
    await harness.roundtrip()


async def test_back_after_the_gateway_falls_silent(harness: Harness) -> None:
    harness.gw.freeze()  # half-open: the connection stays up, nothing answers
    reason = await harness.next_lost(timeout=FAST.event_deadline + 2.0)
    assert "no sign of life" in reason
    harness.gw.thaw()
    assert (await harness.next_ready()).login_count >= 2
    await harness.roundtrip()


async def test_relogin_and_rename_re_resolve_groups(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.gw.relogin()
    assert (await harness.next_ready(timeout=5.0)).login_count == 2
    harness.gw.rename_room(R1, "城西零工群（新）")
    await harness.roundtrip()  # handled after the rename event, in order
    assert harness.bot.rooms["城西零工群"] == R1
    assert any("is now called" in r.getMessage() for r in caplog.records)
    await harness.bot.transport.send_room("城西零工群", "改名后照常")
    assert harness.gw.sent[-1].room_id == R1


async def test_send_without_a_connection_fails_transiently(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here
    timings = Timings(
        ding_interval=0.1,
        event_deadline=1.0,
        rpc_timeout=0.5,
        connect_timeout=0.5,
        backoff_initial=0.05,
        backoff_max=0.1,
        send_ready_wait=0.2,
    )
    bot = WechatyBot(
        _ignore, [], f"127.0.0.1:{port}", "linggong-local", timings=timings, data_dir=str(tmp_path)
    )
    bot.start()
    try:
        with pytest.raises(SendError) as error:
            await bot.transport.send_room("城西零工群", "有人吗")
        assert not error.value.permanent
    finally:
        await asyncio.wait_for(bot.stop(), 2.0)


async def _ignore(msg: IncomingMessage) -> None:
    return None


async def test_a_direct_message_never_goes_to_a_contact_found_by_display_name(harness: Harness) -> None:
    """Bug: ``_contact_target`` fell back to the first friend whose display name matched the key, so
    the taker's DM with a resident's phone and address reached a stranger who shared the nickname."""
    impostor = Contact("wxid_impostor", "张三")  # a second friend of the bot with the same name
    harness.gw.state.contacts[impostor.id] = impostor
    start = len(harness.gw.sent)
    with pytest.raises(SendError) as error:
        await harness.bot.transport.send_direct("张三", "电话13908521234 阳光小区3栋2单元501")
    assert error.value.permanent and harness.gw.sent[start:] == []
    await harness.bot.transport.send_direct(ZHANG, "按 id 发的")  # the id still reaches the person
    assert [r.text for r in harness.gw.sent[start:]] == ["按 id 发的"]
