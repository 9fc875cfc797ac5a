"""Crashes of the bot: what the gateway re-delivers, how the outbox avoids sending twice, and the
crash test itself (``linggong run`` as a separate process, SIGKILLed and restarted under load).

The full run (2,000 messages, at least five kills) is ``python -m benchmarks.crash``; see
docs/crash-test.md.  Waits here are polls with timeouts, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import tomllib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from grpclib.client import Channel
from wechaty_grpc.wechaty import PuppetStub

from benchmarks.crash import run_crash
from bot.config import PROJECT_ROOT, Config, ConfigError, parse_config
from bot.gateway import Gateway, World, world_from_config
from bot.gateway.service import EVENT_LOGIN, EVENT_MESSAGE, EVENT_READY
from bot.runtime import BotRuntime
from bot.transport import SendError
from bot.wechat.support import Timings

WORLD = {
    "bot_id": "wxid_bot",
    "bot_name": "零工助手",
    "contacts": [{"id": "u1", "name": "张三"}],
    "rooms": [{"id": "r1@chatroom", "topic": "测试群", "member_ids": ["u1"]}],
}


@contextlib.asynccontextmanager
async def event_client(gateway: Gateway) -> AsyncIterator[asyncio.Queue[tuple[int, str]]]:
    """A raw puppet-service client: Stop, Start, then the event stream, read into a queue."""
    channel = Channel("127.0.0.1", gateway.port)
    stub = PuppetStub(channel, timeout=2.0)
    events: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

    async def read() -> None:
        async for item in PuppetStub(channel).event():
            payload = json.loads(item.payload or "{}")
            await events.put((int(item.type), payload.get("messageId", "")))

    await stub.stop()
    await stub.start()
    reader = asyncio.create_task(read())
    try:
        yield events
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        channel.close()


async def next_messages(events: asyncio.Queue[tuple[int, str]], count: int) -> list[str]:
    """The ids of the next ``count`` message events (login and ready events skipped)."""
    ids: list[str] = []
    async with asyncio.timeout(5):
        while len(ids) < count:
            kind, message_id = await events.get()
            if kind == EVENT_MESSAGE:
                ids.append(message_id)
            else:
                assert kind in (EVENT_LOGIN, EVENT_READY)
    return ids


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_the_gateway_redelivers_what_a_vanished_client_may_not_have_handled() -> None:
    gateway = Gateway(World.from_dict(WORLD))
    await gateway.start()
    try:
        early = await gateway.inject_text("u1", "没人连着的时候发的", room_id="r1@chatroom")
        async with event_client(gateway) as events:
            assert await next_messages(events, 1) == [early]  # the backlog, after login
            first = await gateway.inject_text("u1", "第一条", room_id="r1@chatroom")
            assert await next_messages(events, 1) == [first]
        # the client is gone without a word; nobody knows what it handled
        await until(lambda: gateway.open_streams == 0)
        while_down = await gateway.inject_text("u1", "断线时发的", room_id="r1@chatroom")
        async with event_client(gateway) as events:
            # everything the dead stream carried, then what came while no one listened, in order
            assert await next_messages(events, 3) == [early, first, while_down]
            assert events.empty()
        assert gateway.redelivered >= 2
    finally:
        await gateway.stop()


def test_the_global_gap_between_sends_is_configurable(config: Config) -> None:
    """linggong run's gap between any two sends (``[wechat].send_interval``, the outbox's ``send_gap``):
    0 for the crash test and benchmarks."""
    assert config.wechat.send_interval == 1.0
    data = tomllib.loads((PROJECT_ROOT / "config.toml").read_text(encoding="utf-8"))
    data["wechat"]["send_interval"] = -1
    with pytest.raises(ConfigError, match="wechat.send_interval: must be 0 or more"):
        parse_config(data)


# -- sending exactly once across a crash between the send and its record -------------------

GRID1 = "洗马社区第一网格群"
NEED = "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234"
FAST = Timings(ding_interval=0.1, event_deadline=1.0, rpc_timeout=1.0, connect_timeout=1.0, backoff_initial=0.05,
               backoff_factor=2.0, backoff_max=0.3, send_ready_wait=3.0, cache_ttl=60.0,
               shutdown_grace=1.0)


class Died(BaseException):
    """The bot process dying at this very point (nothing after it runs)."""


@pytest.fixture
def local_config(config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    for name in ("WECHATY_PUPPET_SERVICE_ENDPOINT", "WECHATY_PUPPET_SERVICE_TOKEN", "WECHATY_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty-cache"))
    return replace(config, wechat=replace(config.wechat, endpoint="", gateway_port=0, watchdog_deadline=1.0,
                                                              send_interval=0.0),
                   web=replace(config.web, port=0))  # never the station's 8080, whatever else runs here


async def started(config: Config, db: Path, gateway: Gateway, *, send: bool) -> BotRuntime:
    config = replace(config, wechat=replace(config.wechat, endpoint=gateway.endpoint))
    runtime = BotRuntime(config, str(db), timings=FAST, send=send, scheduler=False)
    await runtime.start()
    await runtime.wait_ready(5.0)
    return runtime


async def one_reply_in_doubt(config: Config, db: Path, gateway: Gateway, *, delivered: bool) -> None:
    """A resident posts; the bot dies while sending the acknowledgement: after the request
    reached the gateway (``delivered``) or before it left."""
    runtime = await started(config, db, gateway, send=False)
    try:
        room = next(r.id for r in gateway.state.rooms.values() if r.topic == GRID1)
        await runtime.wait_handled(await gateway.inject_text("张阿姨", NEED, room_id=room), 5.0)
        send_room = runtime.transport.send_room

        async def dies_while_sending(*args: object) -> None:
            if delivered:
                await send_room(*args)  # type: ignore[arg-type]
            raise Died

        runtime.transport.send_room = dies_while_sending  # type: ignore[method-assign]
        with pytest.raises(Died):
            await runtime.outbox.flush()
        async with runtime.repo.transaction() as tx:
            assert [r["status"] for r in await tx.outbox_rows()] == ["pending"]
            doubt = await tx.outbox_in_doubt(runtime.outbox.instance)  # the claim is the in-doubt mark
            assert doubt is not None and doubt.text.startswith("收到您的需求") and doubt.sending_since is not None
    finally:
        await runtime.stop()


@pytest.mark.parametrize("delivered", [True, False], ids=["after-the-gateway-took-it", "before-it-left"])
async def test_a_reply_in_doubt_after_a_crash_is_sent_exactly_once(
    local_config: Config, tmp_path: Path, delivered: bool
) -> None:
    gateway = Gateway(world_from_config(local_config))
    await gateway.start()
    try:
        db = tmp_path / "doubt.db"
        await one_reply_in_doubt(local_config, db, gateway, delivered=delivered)
        assert len(gateway.sent) == (1 if delivered else 0)
        runtime = await started(local_config, db, gateway, send=True)  # the restarted bot
        try:
            await runtime.wait_outbox_idle(5.0)
            outbox = runtime.outbox
            assert (outbox.confirmed, outbox.resent) == ((1, 0) if delivered else (0, 0))
            async with runtime.repo.transaction() as tx:
                assert [r["status"] for r in await tx.outbox_rows()] == ["sent"]
                assert await tx.outbox_in_doubt(runtime.outbox.instance) is None
        finally:
            await runtime.stop()
        assert [r.text.count("收到您的需求") for r in gateway.sent] == [1]  # exactly once
    finally:
        await gateway.stop()


async def test_with_a_gateway_that_cannot_tell_a_reply_in_doubt_is_sent_again_and_recorded(
    local_config: Config, tmp_path: Path
) -> None:
    gateway = Gateway(world_from_config(local_config), find_sent_rpc=False)  # like a real WeChat gateway
    await gateway.start()
    try:
        db = tmp_path / "doubt.db"
        await one_reply_in_doubt(local_config, db, gateway, delivered=True)
        runtime = await started(local_config, db, gateway, send=True)
        try:
            await runtime.wait_outbox_idle(5.0)
            assert (runtime.outbox.confirmed, runtime.outbox.resent) == (0, 1)
            async with runtime.repo.transaction() as tx:
                events = await tx.fetch_all("SELECT kind, detail FROM events WHERE kind = 'send_unconfirmed'")
            assert len(events) == 1
        finally:
            await runtime.stop()
        assert len(gateway.sent) == 2  # at least once: the residual window of real gateways
    finally:
        await gateway.stop()


async def test_a_send_that_fails_after_the_gateway_took_it_is_not_retried(
    local_config: Config, tmp_path: Path
) -> None:
    """A timeout after the request arrived: the outbox asks before anything else goes out."""
    gateway = Gateway(world_from_config(local_config))
    await gateway.start()
    runtime = await started(local_config, tmp_path / "timeout.db", gateway, send=False)
    try:
        send_room = runtime.transport.send_room

        async def times_out(*args: object) -> None:
            await send_room(*args)  # type: ignore[arg-type]
            raise SendError("DEADLINE_EXCEEDED: no answer")

        runtime.transport.send_room = times_out  # type: ignore[method-assign]
        room = next(r.id for r in gateway.state.rooms.values() if r.topic == GRID1)
        await runtime.wait_handled(await gateway.inject_text("张阿姨", NEED, room_id=room), 5.0)
        await runtime.outbox.flush()
        await runtime.outbox.flush()
        assert runtime.outbox.confirmed == 1 and len(gateway.sent) == 1
        async with runtime.repo.transaction() as tx:
            assert [r["status"] for r in await tx.outbox_rows()] == ["sent"]
    finally:
        await runtime.stop()
        await gateway.stop()



async def test_messages_handled_before_a_restart_are_dropped_before_their_payload_is_fetched(
    local_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The gateway re-delivers what a stopped bot's stream carried; the new process drops those
    by their id (the database remembers them) without a MessagePayload round trip each."""
    gateway = Gateway(world_from_config(local_config))
    await gateway.start()
    try:
        db = tmp_path / "known.db"
        room = next(r.id for r in gateway.state.rooms.values() if r.topic == GRID1)
        runtime = await started(local_config, db, gateway, send=True)
        try:
            for text in (NEED, "帮助", "查1"):
                await runtime.wait_handled(await gateway.inject_text("张阿姨", text, room_id=room), 5.0)
        finally:
            await runtime.stop()
        assert gateway.redelivered == 3  # what the stopped bot's stream carried
        caplog.set_level(logging.DEBUG, logger="linggong.wechaty")
        runtime = await started(local_config, db, gateway, send=True)
        try:
            payloads = gateway.calls.count("MessagePayload")
            await runtime.wait_handled(await gateway.inject_text("张阿姨", "待接单", room_id=room), 5.0)
            assert gateway.calls.count("MessagePayload") == payloads + 1  # only the new message
            assert caplog.text.count("was handled before; re-delivery ignored") == 3
            async with runtime.repo.transaction() as tx:
                assert len(await tx.find_orders()) == 1
        finally:
            await runtime.stop()
    finally:
        await gateway.stop()


# -- the crash test (fast variant; the full run is python -m benchmarks.crash) -------------------


async def test_linggong_run_killed_and_restarted_under_load_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """300 mixed messages with a claim storm of 100 through a separate ``linggong run`` process,
    SIGKILLed twice (once right after the gateway took a send); set CRASH_SEED to repeat a run."""
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(2**32))
    result = await run_crash(tmp_path, messages=300, kills=2, storm=100, seed=seed, timeout=120.0,
                             say=lambda line: None)
    print("\n" + result.report())
    assert not result.problems, result.report()
    assert len(result.kills) == 2 and {k.mode for k in result.kills} == {"moment", "send"}
    assert result.figures["integrity"] == "ok" and result.figures["messages handled"] == 300
