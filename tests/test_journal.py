"""The intake journal: a message the bot received but had not committed when it died is handled
after the restart, in WeChat-time order, exactly once, even from a gateway that never re-delivers.

The "crash" is in-process and deterministic: the first bot journals the messages but its app is
held, so nothing is committed; it is then stopped (its held work cancelled) and a second bot on
the same database and gateway starts.  The gateway is the local one with re-delivery off, as the
official gateway behaves; its clock gives each message the WeChat time the test chooses.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import Config
from bot.gateway import Gateway, world_from_config
from bot.runtime import BotRuntime
from bot.transport import IncomingMessage
from tests.conftest import wid
from tests.test_e2e_wechaty import FAST, e2e_config  # noqa: F401  (the fixture)

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
RECALLED = 13  # the TypeScript puppet's message type of a recall (撤回): its text is the recalled id
NEED = "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234"


@pytest.fixture
def wechat_clock(e2e_config: Config) -> FakeClock:  # noqa: F811
    return FakeClock(datetime(2026, 11, 23, 10, 0, 0), e2e_config.tz)


@pytest.fixture
async def gateway(e2e_config: Config, wechat_clock: FakeClock):  # noqa: F811
    gw = Gateway(world_from_config(e2e_config), redeliver=False, clock=wechat_clock)
    await gw.start()
    yield gw
    await gw.stop()


async def start(config: Config, db: Path, gw: Gateway) -> BotRuntime:
    runtime = BotRuntime(replace(config, wechat=replace(config.wechat, endpoint=gw.endpoint)), str(db),
                         timings=FAST, scheduler=False)
    await runtime.start()
    await runtime.wait_ready(5.0)
    return runtime


async def inbox_rows(runtime: BotRuntime) -> int:
    async with runtime.repo.transaction() as tx:
        return len(await tx.journal_pending(runtime.journal.key, 100))


async def dispatched_then_held(config: Config, db: Path, gateway: Gateway) -> tuple[BotRuntime, asyncio.Event]:
    """Order #1 posted and dispatched by one bot; then a second bot whose app never commits
    anything it is given (received and journaled, not handled), and the event set once it got some."""
    rooms = {room.topic: room.id for room in gateway.state.rooms.values()}
    first = await start(config, db, gateway)
    for who, text in (("张阿姨", NEED), ("杨先媚", "派单1")):
        await first.wait_handled(await gateway.inject_text(wid(who), text, room_id=rooms[GRID1]), 5.0)
    await first.stop()
    dying = await start(config, db, gateway)
    held = asyncio.Event()

    async def hold(msg: IncomingMessage) -> None:
        held.set()
        await asyncio.Event().wait()

    dying.bot.app_process = hold
    return dying, held


async def test_messages_received_but_not_committed_are_handled_after_a_crash_in_wechat_time_order(
        e2e_config: Config, gateway: Gateway, wechat_clock: FakeClock, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "journal.db"
    rooms = {room.topic: room.id for room in gateway.state.rooms.values()}
    dying, held = await dispatched_then_held(e2e_config, db, gateway)
    wechat_clock.advance(seconds=30)  # 熊明祥 claims at 10:00:30 ...
    late = await gateway.inject_text(wid("熊明祥"), "接1", room_id=rooms[MARKET])
    await asyncio.wait_for(held.wait(), 5.0)
    wechat_clock.advance(seconds=-20)  # ... and 韩德明's, sent at 10:00:10, arrives after it
    early = await gateway.inject_text(wid("韩德明"), "接1", room_id=rooms[MARKET])
    async with asyncio.timeout(5.0):
        while await inbox_rows(dying) < 2:
            await asyncio.sleep(0.01)
    await dying.stop()  # the held work is cancelled: nothing of either claim was committed
    assert gateway.dropped >= 1  # the gateway will not deliver them again

    back = await start(e2e_config, db, gateway)
    try:
        await back.wait_handled(early, 5.0)
        await back.wait_handled(late, 5.0)
        await back.wait_outbox_idle(5.0)
        async with back.repo.transaction() as tx:
            order = await tx.get_order("洗马社区", 1)
            assert order.taker.wechat == wid("韩德明")  # the earlier WeChat time wins, not arrival
            assert await tx.is_processed(early) and await tx.is_processed(late)
        assert await back.journal.pending() == []  # (removals are written lazily; this writes them)
        wins = [r for r in gateway.sent if "接走，用时" in r.text]
        assert len(wins) == 1
    finally:
        await back.stop()


async def test_a_claim_recalled_before_the_bot_handled_it_counts_as_never_sent(
        e2e_config: Config, gateway: Gateway, wechat_clock: FakeClock, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "recall.db"
    rooms = {room.topic: room.id for room in gateway.state.rooms.values()}
    dying, held = await dispatched_then_held(e2e_config, db, gateway)
    claim = await gateway.inject_text(wid("熊明祥"), "接1", room_id=rooms[MARKET])
    await asyncio.wait_for(held.wait(), 5.0)
    wechat_clock.advance(seconds=5)
    recall = await gateway.inject_message(wid("熊明祥"), claim, room_id=rooms[MARKET], msg_type=RECALLED)
    wechat_clock.advance(seconds=5)
    other = await gateway.inject_text(wid("韩德明"), "接1", room_id=rooms[MARKET])
    async with asyncio.timeout(5.0):
        while await inbox_rows(dying) < 3:
            await asyncio.sleep(0.01)
    await dying.stop()

    back = await start(e2e_config, db, gateway)
    try:
        await back.wait_handled(other, 5.0)
        await back.wait_outbox_idle(5.0)
        async with back.repo.transaction() as tx:
            assert (await tx.get_order("洗马社区", 1)).taker.wechat == wid("韩德明")
        assert claim in back.app.processed and recall in back.app.processed
        assert not [r for r in gateway.sent if r.contact_id == wid("熊明祥")]  # told nothing: he took it back
        assert await back.journal.pending() == []
    finally:
        await back.stop()
