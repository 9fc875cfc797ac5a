"""End to end on the production path: the real App on a SQLite file with its real-clock outbox,
the real wechaty client, gRPC over loopback, and the local gateway simulating WeChat.

Nothing here sleeps for a fixed long time: waits are on the gateway's records, on the runtime's
"handled" notifications and on short polls, all with timeouts.  The one deliberate pause is a
few tenths of a second while the gateway is down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.common import late_answered
from bot.config import Config, WorkerSeed
from bot.gateway import Gateway, SentRecord, world_from_config
from bot.runtime import BotRuntime
from bot.wechat.support import Timings
from storage.models import OutMessage
from tests.conftest import wid

ROOT = Path(__file__).resolve().parent.parent
GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
PHONE = "13908521234"
NEED = f"我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话{PHONE}"
MIN_INTERVAL = 0.05
FAST = Timings(
    ding_interval=0.1, event_deadline=1.0, rpc_timeout=1.0, connect_timeout=1.0, backoff_initial=0.05,
    backoff_factor=2.0, backoff_max=0.3, send_ready_wait=3.0, cache_ttl=60.0,
    shutdown_grace=1.0,
)
DEADLINE = 5.0  # the bot must be back within this after the gateway returns (FAST timings)


@pytest.fixture
def e2e_config(config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    for name in ("WECHATY_PUPPET_SERVICE_ENDPOINT", "WECHATY_PUPPET_SERVICE_TOKEN", "WECHATY_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty-cache"))
    monkeypatch.chdir(tmp_path)
    return replace(config, outbox=replace(config.outbox, min_interval=MIN_INTERVAL, per_minute=10_000),
                   wechat=replace(config.wechat, endpoint="", gateway_port=0, watchdog_deadline=FAST.event_deadline,
                                  send_interval=0.0),
                   web=replace(config.web, port=0))  # never the station's 8080, whatever else runs here


@pytest.fixture
async def gateway(e2e_config: Config) -> AsyncIterator[Gateway]:
    """A gateway the tests own (to crash, restart, or outlive a bot)."""
    gw = Gateway(world_from_config(e2e_config))
    await gw.start()
    yield gw
    await gw.stop()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class Bot:
    """A running BotRuntime and the gateway it is connected to, with WeChat-side helpers."""

    def __init__(self, runtime: BotRuntime, gateway: Gateway) -> None:
        self.runtime, self.gw = runtime, gateway
        self.rooms = {room.topic: room.id for room in gateway.state.rooms.values()}

    async def inject(self, who: str, room: str | None, text: str, msg_id: str | None = None) -> str:
        return await self.gw.inject_text(wid(who), text, room_id=self.rooms[room] if room else None, msg_id=msg_id)

    async def say(self, who: str, room: str | None, text: str, msg_id: str | None = None) -> list[SentRecord]:
        """Say something; return what the bot sent once it handled it and its outbox is idle."""
        start = len(self.gw.sent)
        msg_id = await self.inject(who, room, text, msg_id)
        await self.runtime.wait_handled(msg_id, 5.0)
        await self.runtime.wait_outbox_idle(5.0)
        return self.gw.sent[start:]

    def in_room(self, records: list[SentRecord], topic: str) -> list[SentRecord]:
        return [r for r in records if r.room_id == self.rooms[topic]]

    async def outbox(self) -> list[dict]:
        async with self.runtime.repo.transaction() as tx:
            return await tx.outbox_rows()

    async def order(self, no: int = 1):
        async with self.runtime.repo.transaction() as tx:
            return await tx.get_order("洗马社区", no)


async def start_bot(config: Config, db: Path, gateway: Gateway | None = None, **kw) -> Bot:
    """Start a runtime: on ``gateway`` if given, else on its own embedded local gateway."""
    if gateway is not None:
        config = replace(config, wechat=replace(config.wechat, endpoint=gateway.endpoint))
    kw.setdefault("scheduler", False)
    runtime = BotRuntime(config, str(db), timings=FAST, **kw)
    await runtime.start()
    await runtime.wait_ready(DEADLINE)
    gw = gateway or runtime.gateway
    assert gw is not None
    return Bot(runtime, gw)


async def test_a_whole_order_loop_through_wechat(e2e_config: Config, tmp_path: Path) -> None:
    began = time.monotonic()
    bot = await start_bot(e2e_config, tmp_path / "loop.db", scheduler=True)  # linggong run's own gateway
    login = time.monotonic() - began
    try:
        assert bot.runtime.gateway is not None and bot.runtime.bot.info.missing == ()
        assert {wid("熊明祥"), wid("杨先媚"), "张阿姨"} <= bot.runtime.bot.info.contacts  # who it can message
        assert bot.runtime.app.scope.served() == ["洗马社区", "茅草西社区"]  # from the groups found
        assert bot.runtime.outbox.reach is None  # a SQLite file has one instance: it sends anything,
        assert bot.runtime.outbox.instance.endswith("/sqlite")  # and a restart takes its claims back
        # the resident posts a need in the grid group: acknowledged with a real @mention
        (ack,) = await bot.say("张阿姨", GRID1, NEED)
        assert ack.room_id == bot.rooms[GRID1] and ack.mention_ids == ("张阿姨",)
        assert ack.text.startswith("@张阿姨\u2005") and "#1" in ack.text

        # staff dispatch: the card goes to the market group without the phone or door number
        sent = await bot.say("杨先媚", GRID1, "派单1")
        (card,) = bot.in_room(sent, MARKET)
        assert "【派单 #1】" in card.text and PHONE not in card.text and "501" not in card.text

        # three workers race; exactly one wins
        racers = [wid("熊明祥"), wid("韩德明"), wid("曹志强")]
        start = len(bot.gw.sent)
        ids = await asyncio.gather(*(bot.inject(w, MARKET, "接1") for w in racers))
        for msg_id in ids:
            await bot.runtime.wait_handled(msg_id, 5.0)
        await bot.runtime.wait_outbox_idle(5.0)
        sent = bot.gw.sent[start:]
        wins = [r for r in bot.in_room(sent, MARKET) if "接走，用时" in r.text]
        assert len(wins) == 1
        (winner,) = wins[0].mention_ids
        order = await bot.order(1)
        assert order.status == "taken" and order.taker.wechat == winner
        losers = {w for w in racers if w != winner}
        winner_name = order.taker.name
        late = [r for r in bot.in_room(sent, MARKET) if f"已被 {winner_name} 接走" in r.text]
        assert {m for r in late for m in r.mention_ids} == losers
        # the taker's direct message has the full address and phone
        (details,) = [r for r in sent if r.contact_id == winner]
        assert PHONE in details.text and "2单元501室" in details.text
        # the resident is @mentioned in the grid group with the taker's name and a masked phone
        (told,) = bot.in_room(sent, GRID1)
        assert told.mention_ids == ("张阿姨",) and winner_name in told.text
        assert PHONE not in told.text and "****" in told.text

        sent = await bot.say(winner, MARKET, "完成1")
        assert any("#1 已完成" in r.text for r in bot.in_room(sent, MARKET))
        assert any(r.mention_ids == ("张阿姨",) for r in bot.in_room(sent, GRID1))
        sent = await bot.say("张阿姨", GRID1, "满意1")
        assert any("5 分" in r.text for r in sent)
        order = await bot.order(1)
        assert (order.status, order.rating) == ("done", 5)
        assert all(r["status"] == "sent" for r in await bot.outbox())
    finally:
        await bot.runtime.stop()
    print(f"\nlogin (start to ready, incl. wechaty import on first use): {login:.3f}s")  # a figure, not a test


async def test_a_duplicated_event_changes_nothing_also_across_a_restart(
    e2e_config: Config, gateway: Gateway, tmp_path: Path
) -> None:
    db = tmp_path / "dup.db"
    bot = await start_bot(e2e_config, db, gateway)
    try:
        first = await bot.say("张阿姨", GRID1, NEED, msg_id="wx-dup-1")
        assert len(first) == 1
        await bot.inject("张阿姨", GRID1, NEED, msg_id="wx-dup-1")  # the gateway delivers it again
        assert await bot.say("张阿姨", GRID1, "谢谢") == []  # handled in order, after the duplicate
    finally:
        await bot.runtime.stop()
    # a new bot process: wechaty's in-memory de-duplication is gone, the database remembers
    bot = await start_bot(e2e_config, db, gateway)
    try:
        assert await bot.say("张阿姨", GRID1, NEED, msg_id="wx-dup-1") == []
        async with bot.runtime.repo.transaction() as tx:
            assert len(await tx.find_orders()) == 1
        assert len([r for r in gateway.sent if "#1" in r.text]) == 1
    finally:
        await bot.runtime.stop()


async def test_a_direct_message_to_a_non_friend_falls_back_and_is_recorded(
    e2e_config: Config, tmp_path: Path
) -> None:
    bot = await start_bot(e2e_config, tmp_path / "dm.db")
    try:
        bot.gw.set_friend(wid("熊明祥"), False)
        await bot.say("张阿姨", GRID1, NEED)
        await bot.say("杨先媚", GRID1, "派单1")
        await bot.say("熊明祥", MARKET, "接1")
        await bot.runtime.wait_outbox_idle(5.0)  # the fallback is enqueued when the DM fails
        sent = bot.gw.sent
        assert not [r for r in sent if r.contact_id == wid("熊明祥")]
        fallback = [r for r in bot.in_room(sent, MARKET) if "私信发不出去" in r.text]
        assert len(fallback) == 1 and fallback[0].mention_ids == (wid("熊明祥"),)
        assert PHONE not in fallback[0].text
        failed = [r for r in await bot.outbox() if r["status"] == "failed"]
        assert len(failed) == 1 and failed[0]["contact"] == wid("熊明祥") and "not a friend" in failed[0]["last_error"]
        async with bot.runtime.repo.transaction() as tx:
            events = await tx.fetch_all("SELECT detail FROM events WHERE kind = 'dm_fallback'")
        assert len(events) == 1 and "#1" in events[0]["detail"]
    finally:
        await bot.runtime.stop()


async def test_two_friends_with_one_nickname_the_takers_message_goes_to_the_bound_id(
    e2e_config: Config, gateway: Gateway, tmp_path: Path
) -> None:
    """Through the real wechaty client: another friend of the bot calls himself 熊明祥 too (and sits
    in the market group).  His 接1 is refused; the real 熊明祥 takes it and the address and phone go
    to the real one's contact id only, never to a contact found by the name."""
    from bot.gateway.world import Contact

    impostor = "wxid_fake_xiong"
    gateway.add_contact(Contact(impostor, "熊明祥"))
    gateway.add_member(next(r.id for r in gateway.state.rooms.values() if r.topic == MARKET), impostor)
    bot = await start_bot(e2e_config, tmp_path / "nick.db", gateway)
    try:
        assert impostor in bot.runtime.bot.info.contacts
        await bot.say("张阿姨", GRID1, NEED)
        await bot.say("杨先媚", GRID1, "派单1")
        start = len(bot.gw.sent)
        await bot.runtime.wait_handled(await bot.gw.inject_text(impostor, "接1", room_id=bot.rooms[MARKET]), 5.0)
        await bot.runtime.wait_outbox_idle(5.0)
        assert (await bot.order(1)).status == "dispatched", "the name won nothing"
        await bot.say("熊明祥", MARKET, "接1")
        sent = bot.gw.sent[start:]
        details = [r for r in sent if PHONE in r.text]
        assert [r.contact_id for r in details] == [wid("熊明祥")]
        assert not [r for r in sent if r.contact_id == impostor and ("501" in r.text or PHONE in r.text)]
        assert (await bot.order(1)).taker.wechat == wid("熊明祥")
    finally:
        await bot.runtime.stop()


async def test_a_killed_and_restarted_gateway_is_survived(
    e2e_config: Config, gateway: Gateway, tmp_path: Path
) -> None:
    bot = await start_bot(e2e_config, tmp_path / "crash.db", gateway)
    try:
        task = bot.runtime.bot.start()
        await bot.say("张阿姨", GRID1, NEED)
        await gateway.crash()
        await until(lambda: not bot.runtime.bot.ready)
        await asyncio.sleep(0.3)  # down for a few reconnection attempts
        restarted = time.monotonic()
        await gateway.restart()
        await until(lambda: bot.runtime.bot.ready and bot.runtime.bot.info.login_count == 2, DEADLINE)
        sent = await bot.say("杨先媚", GRID1, "派单1")  # processed again, on the same bot
        back = time.monotonic() - restarted
        assert [r.text.startswith("【派单 #1】") for r in bot.in_room(sent, MARKET)] == [True]
        assert back < DEADLINE
        assert bot.runtime.bot.start() is task and not task.done()
    finally:
        await bot.runtime.stop()
    print(f"\nback after the gateway restart (ready + one message handled and answered): {back:.3f}s")


async def test_replies_committed_during_an_outage_are_sent_after_it(
    e2e_config: Config, gateway: Gateway, tmp_path: Path
) -> None:
    bot = await start_bot(e2e_config, tmp_path / "outage.db", gateway, send=False)
    stop = asyncio.Event()
    sender = None
    try:
        ack = await bot.inject("张阿姨", GRID1, NEED)
        await bot.runtime.wait_handled(ack, 5.0)
        await gateway.crash()
        await until(lambda: not bot.runtime.bot.ready)
        sender = asyncio.create_task(bot.runtime.outbox.run(stop))  # sends while the gateway is down
        await asyncio.sleep(0.3)
        assert [r["status"] for r in await bot.outbox()] == ["pending"]
        await gateway.restart()
        await until(lambda: bool(bot.in_room(gateway.sent, GRID1)), DEADLINE)
        await bot.runtime.wait_outbox_idle(5.0)
        ((status, attempts),) = [(r["status"], r["attempts"]) for r in await bot.outbox()]
        assert (status, attempts) == ("sent", 1)  # the outage used up no attempts
        assert len(gateway.sent) == 1
    finally:
        stop.set()
        bot.runtime.outbox.wake()
        if sender is not None:
            await asyncio.wait_for(sender, 5.0)
        await bot.runtime.stop()


async def test_a_burst_of_100_claims_is_paced_and_late_notices_coalesce(
    e2e_config: Config, tmp_path: Path
) -> None:
    xima = e2e_config.communities[0]
    extra = tuple(WorkerSeed(f"师傅{i:03d}", f"wxid_shifu{i:03d}", f"1390000{i:04d}", ("家电水电维修",), None, None)
                  for i in range(100))
    config = replace(e2e_config, communities=(replace(xima, workers=xima.workers + extra),
                                              *e2e_config.communities[1:]))
    bot = await start_bot(config, tmp_path / "burst.db")
    try:
        await bot.say("张阿姨", GRID1, NEED)
        await bot.say("杨先媚", GRID1, "派单1")
        start = len(bot.gw.sent)
        claimers = [w.wechat for w in extra]
        began = time.monotonic()
        ids = [await bot.inject(w, MARKET, "接1") for w in claimers]
        for msg_id in ids:
            await bot.runtime.wait_handled(msg_id, 20.0)
        intake = time.monotonic() - began
        await bot.runtime.wait_outbox_idle(10.0)
        sent = bot.gw.sent[start:]
        order = await bot.order(1)
        winner = order.taker.wechat
        market = bot.in_room(sent, MARKET)
        assert len([r for r in market if "接走，用时" in r.text]) == 1
        late = [r for r in market if f"已被 {order.taker.name} 接走" in r.text]
        mentioned = [m for r in late for m in r.mention_ids]
        losers = set(claimers) - {winner}
        assert len(mentioned) == len(set(mentioned)) and set(mentioned) <= losers  # nobody answered twice
        # coalesced: at most 2 notices per order, at most 20 @ in each, the rest of them counted
        answered = sum(late_answered(r.text, tuple(r.mention_ids)) for r in late)
        assert 1 <= len(late) <= 2 and all(len(r.mention_ids) <= 20 for r in late), [r.text for r in late]
        assert answered <= len(losers) and (len(late) == 2 or answered == len(losers)), (
            f"{len(late)} late notices answered {answered} of {len(losers)} late claims in {intake:.2f}s")
        by_conversation: dict[str, list[float]] = defaultdict(list)
        for record in bot.gw.sent:
            by_conversation[record.conversation_id].append(record.at.timestamp())
        gaps = [b - a for times in by_conversation.values() for a, b in zip(times, times[1:])]
        assert gaps and min(gaps) >= MIN_INTERVAL, f"closest two sends to one conversation: {min(gaps):.4f}s"
    finally:
        await bot.runtime.stop()
    print(f"\n100 claims handled in {intake:.2f}s; {len(late)} late notices; "
          f"closest gap in one conversation {min(gaps):.3f}s (min_interval {MIN_INTERVAL}s)")


async def test_no_reply_is_lost_or_repeated_across_a_crash_between_commit_and_send(
    e2e_config: Config, gateway: Gateway, tmp_path: Path
) -> None:
    db = tmp_path / "restart.db"
    bot = await start_bot(e2e_config, db, gateway, send=False)
    try:
        msg_id = await bot.inject("张阿姨", GRID1, NEED)
        await bot.runtime.wait_handled(msg_id, 5.0)
        await bot.runtime.outbox.flush()  # the acknowledgement goes out and is marked sent
        (ack,) = gateway.sent
        for who, room, text in [("杨先媚", GRID1, "派单1"), ("熊明祥", MARKET, "接1"), ("韩德明", MARKET, "接1")]:
            await bot.runtime.wait_handled(await bot.inject(who, room, text), 5.0)
        rows = await bot.outbox()
        pending = [r["text"] for r in rows if r["status"] == "pending"]
        assert len(pending) >= 5 and gateway.sent == [ack]
    finally:
        await bot.runtime.stop()  # the bot goes away with its replies committed but unsent

    bot = await start_bot(e2e_config, db, gateway)
    try:
        await bot.runtime.wait_outbox_idle(5.0)
        texts = [r.text.split("\u2005")[-1] for r in gateway.sent]
        assert len(texts) == len(set(texts)) == 1 + len(pending)  # every reply exactly once
        assert sorted(texts[1:]) == sorted(p for p in pending)
        assert all(r["status"] == "sent" for r in await bot.outbox())
    finally:
        await bot.runtime.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A ``linggong`` subprocess whose log lines are read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        return cls(proc)

    async def wait_for(self, text: str, timeout: float = 15.0) -> str:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"process ended before {text!r}:\n" + "".join(self.lines))
                line = raw.decode("utf-8", "replace")
                self.lines.append(line)
                if text in line:
                    return line

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), 15.0)
        self.lines.append(rest.decode("utf-8", "replace"))
        return await asyncio.wait_for(self.proc.wait(), 15.0)


async def test_linggong_run_connects_to_the_environment_endpoint_and_stops_on_sigterm(
    e2e_config: Config, gateway: Gateway, tmp_path: Path
) -> None:
    run = await Process.start("run", "--db", str(tmp_path / "run.db"),
                              env={"WECHATY_PUPPET_SERVICE_ENDPOINT": gateway.endpoint})
    try:
        await run.wait_for("WeChat ready")
        start = len(gateway.sent)
        await gateway.inject_text("张阿姨", NEED, room_id=next(r.id for r in gateway.state.rooms.values()
                                                               if r.topic == GRID1))
        ack = await gateway.wait_for_sent(start=start, timeout=10.0)
        assert ack.mention_ids == ("张阿姨",) and "#1" in ack.text
    finally:
        code = await run.stop()
    log = "".join(run.lines)
    assert code == 0, log
    assert "(environment)" in log and "stopped" in log
    assert PHONE not in log  # logs never show a phone number


async def test_a_killed_gateway_process_is_survived(e2e_config: Config, tmp_path: Path) -> None:
    port = free_port()
    gateway = await Process.start("gateway", "--port", str(port))
    runtime = None
    try:
        await gateway.wait_for("gateway listening")
        config = replace(e2e_config, wechat=replace(e2e_config.wechat, endpoint=f"127.0.0.1:{port}"))
        runtime = BotRuntime(config, str(tmp_path / "kill.db"), timings=FAST, scheduler=False)
        await runtime.start()
        await runtime.wait_ready(DEADLINE)
        gateway.proc.kill()  # SIGKILL: no goodbye on the connection
        await gateway.proc.wait()
        await until(lambda: not runtime.bot.ready)
        gateway = await Process.start("gateway", "--port", str(port))
        await gateway.wait_for("gateway listening")
        restarted = time.monotonic()
        await until(lambda: runtime.bot.ready and runtime.bot.info.login_count == 2, DEADLINE)
        back = time.monotonic() - restarted
        async with runtime.repo.transaction() as tx:
            await tx.enqueue(OutMessage(text="网关重启后照常发送", room=GRID1), runtime.clock.now().timestamp())
        runtime.outbox.wake()
        await gateway.wait_for("网关重启后照常发送", DEADLINE)
    finally:
        if runtime is not None:
            await runtime.stop()
        await gateway.stop()
    assert back < DEADLINE
    print(f"\nbot ready {back:.3f}s after a killed gateway process was started again")



async def test_linggong_console_types_into_the_local_gateway_and_prints_the_replies(tmp_path: Path) -> None:
    script = "\n".join([NEED, "/as 杨先媚", "派单1", "/in 洗马社区零工市场群 as 熊明祥", "接1", "/quit", ""])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "console", "--db", str(tmp_path / "c.db"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CACHE_DIR": str(tmp_path / "cache")}, cwd=tmp_path)
    out, _ = await asyncio.wait_for(proc.communicate(script.encode()), 30.0)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "[洗马社区第一网格群] 洗马社区零工派单助手：@张阿姨 收到您的需求，订单号 #1" in text
    assert "【派单 #1】" in text and "139****1234" in text
    assert "[私聊] 洗马社区零工派单助手 → 熊明祥：您已接到订单 #1" in text and PHONE in text  # the taker's DM
