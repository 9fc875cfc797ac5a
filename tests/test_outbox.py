"""The outbox against the issue: pacing, coalescing, outages, fallbacks, restarts (simulated time)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from bot.config import Config, OutboxConfig
from bot.transport import NotConnected, RecordingTransport
from storage.models import OutMessage
from storage.sqlite import SqliteRepository
from tests.conftest import START, Chat, pid

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234"


class FlakyTransport(RecordingTransport):
    """Records sends; while ``online`` is False every send raises NotConnected."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.online = True
        self.refused = 0

    async def send_room(self, room: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        if not self.online:
            self.refused += 1
            raise NotConnected("reconnecting")
        await super().send_room(room, text, mentions)

    async def send_direct(self, contact: str, text: str) -> None:
        if not self.online:
            self.refused += 1
            raise NotConnected("reconnecting")
        await super().send_direct(contact, text)


async def open_app(config: Config, path: str, clock: FakeClock, transport: RecordingTransport) -> Chat:
    repo = SqliteRepository(path)
    await repo.open()
    bot = Chat.wire(config, repo, clock, transport)
    await bot.app.setup()
    return bot


async def rows(bot: Chat) -> list[dict]:
    async with bot.repo.transaction() as tx:
        return await tx.outbox_rows()


async def enqueue(bot: Chat, *messages: OutMessage) -> None:
    async with bot.repo.transaction() as tx:
        for m in messages:
            await tx.enqueue(m, bot.clock.now().timestamp())


def clock() -> FakeClock:
    return FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), ZoneInfo("Asia/Shanghai"))


async def test_per_conversation_interval_and_global_cap(config: Config, tmp_path) -> None:
    config = replace(config, outbox=OutboxConfig(min_interval=1.5, per_minute=4, max_attempts=5))
    c = clock()
    transport = RecordingTransport(clock=c)
    bot = await open_app(config, str(tmp_path / "o.db"), c, transport)
    await enqueue(bot, *[OutMessage(text=f"g{i}", room=GRID1) for i in range(3)],
                  *[OutMessage(text=f"m{i}", room=MARKET) for i in range(3)])
    due = await bot.outbox.flush()
    assert [s.text for s in transport.sent] == ["g0", "m0"]
    assert due == c.now().timestamp() + 1.5
    c.advance(1.5)
    await bot.outbox.flush()
    c.advance(1.5)
    await bot.outbox.flush()  # the global cap (4 a minute) holds the rest
    assert [s.text for s in transport.sent] == ["g0", "m0", "g1", "m1"]
    c.advance(60)
    await bot.outbox.flush()
    assert len(transport.sent) == 6
    await bot.repo.close()


async def test_an_outage_never_uses_up_attempts(config: Config, tmp_path) -> None:
    config = replace(config, outbox=replace(config.outbox, max_attempts=2))
    c = clock()
    transport = FlakyTransport(c)
    bot = await open_app(config, str(tmp_path / "o.db"), c, transport)
    await enqueue(bot, OutMessage(text="通知", room=GRID1), OutMessage(text="私信", contact="熊明祥"))
    transport.online = False
    for _ in range(10):  # far more rounds than max_attempts
        due = await bot.outbox.flush()
        assert due is not None and due > c.now().timestamp()
        c.advance(5)
    assert transport.refused == 10  # one probe per round, not one per message
    # no attempt used up, and no claim kept: another instance may send them meanwhile
    assert {(r["status"], r["attempts"], r["claimed_until"]) for r in await rows(bot)} == {("pending", 0, None)}
    transport.online = True
    await bot.outbox.flush()
    assert [s.text for s in transport.sent] == ["通知", "私信"]
    assert {r["status"] for r in await rows(bot)} == {"sent"}
    await bot.repo.close()


async def test_undeliverable_dm_with_fallback_none_is_only_recorded(config: Config, tmp_path) -> None:
    config = replace(config, wechat=replace(config.wechat, dm_fallback="none"))
    c = clock()
    transport = RecordingTransport(clock=c, fail_direct={pid("熊明祥")})
    bot = await open_app(config, str(tmp_path / "o.db"), c, transport)
    chat = bot
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say(GRID1, "杨先媚", "派单1")
    sent = await chat.say(MARKET, "熊明祥", "接1")
    assert not any("私信发不出去" in s.text for s in sent)
    failed = [r for r in await rows(bot) if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["contact"] == pid("熊明祥")
    async with bot.repo.transaction() as tx:
        events = await tx.fetch_all("SELECT kind, detail FROM events WHERE kind = 'send_failed'")
    assert len(events) == 1 and "#1" in events[0]["detail"]
    await bot.repo.close()


async def test_undeliverable_dm_falls_back_and_is_audited(config: Config, tmp_path) -> None:
    c = clock()
    transport = RecordingTransport(clock=c, fail_direct={pid("熊明祥")})
    bot = await open_app(config, str(tmp_path / "o.db"), c, transport)
    chat = bot
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say(GRID1, "杨先媚", "派单1")
    sent = await chat.say(MARKET, "熊明祥", "接1")
    assert [s.mentions for s in sent if "私信发不出去" in s.text] == [(pid("熊明祥"),)]
    async with bot.repo.transaction() as tx:
        events = await tx.fetch_all("SELECT kind, detail, community FROM events WHERE kind = 'dm_fallback'")
    assert [(e["community"], "#1" in e["detail"]) for e in events] == [("洗马社区", True)]
    assert "13908521234" not in events[0]["detail"]
    await bot.repo.close()


async def test_pending_messages_survive_a_restart_and_sent_ones_are_never_resent(config: Config, tmp_path) -> None:
    path = str(tmp_path / "o.db")
    c = clock()
    first = RecordingTransport(clock=c)
    bot = await open_app(config, path, c, first)
    await enqueue(bot, OutMessage(text="已发", room=GRID1))
    await bot.outbox.flush()
    await enqueue(bot, OutMessage(text="待发1", room=GRID1), OutMessage(text="待发2", contact="熊明祥"))
    await bot.repo.close()  # the bot dies between commit and send

    second = RecordingTransport(clock=c)
    bot = await open_app(config, path, c, second)
    await bot.outbox.flush()
    await bot.outbox.flush()
    assert [s.text for s in second.sent] == ["待发1", "待发2"]
    assert [s.text for s in first.sent] == ["已发"]
    assert all(r["status"] == "sent" for r in await rows(bot))
    await bot.repo.close()


async def test_a_wake_during_a_flush_is_not_lost(config: Config, tmp_path) -> None:
    """A reply committed while the sender is flushing must not wait for the idle timeout."""
    import asyncio

    c = clock()
    bot = await open_app(config, str(tmp_path / "o.db"), c, RecordingTransport(clock=c))
    flushes = 0
    real_flush = bot.outbox.flush

    async def flush() -> float | None:
        nonlocal flushes
        flushes += 1
        if flushes == 1:
            bot.outbox.wake()  # arrives after this flush looked at the outbox
        return await real_flush()

    bot.outbox.flush = flush  # type: ignore[method-assign]
    stop = asyncio.Event()
    sender = asyncio.create_task(bot.outbox.run(stop))
    try:
        async with asyncio.timeout(1.0):  # the idle wait is 5 s
            while flushes < 2:
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        bot.outbox.wake()
        await asyncio.wait_for(sender, 1.0)
        await bot.repo.close()


async def test_a_send_is_abandoned_before_its_claim_runs_out(config: Config, tmp_path) -> None:
    """Past most of the lease another instance may take the message: this one stops and retries."""
    import asyncio

    class Stuck(RecordingTransport):
        async def send_room(self, room: str, text: str, mentions: tuple[str, ...] = ()) -> None:
            await asyncio.Event().wait()

    config = replace(config, outbox=replace(config.outbox, lease=0.2))
    c = clock()
    bot = await open_app(config, str(tmp_path / "o.db"), c, Stuck(clock=c))
    await enqueue(bot, OutMessage(text="通知", room=GRID1))
    async with asyncio.timeout(2.0):
        await bot.outbox.flush()
    ((status, attempts, error),) = [(r["status"], r["attempts"], r["last_error"]) for r in await rows(bot)]
    assert (status, attempts) == ("pending", 1) and "longer than" in error
    await bot.repo.close()
