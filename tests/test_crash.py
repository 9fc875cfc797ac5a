"""Crashes of the bot: what the gateway re-delivers, how the outbox avoids sending twice, and the
crash test itself (``linggong run`` as a separate process, SIGKILLed and restarted under load).

The full run (2,000 messages, at least five kills) is ``python -m benchmarks.crash``; see
docs/crash-test.md.  Waits here are polls with timeouts, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from grpclib.client import Channel
from wechaty_grpc.wechaty import PuppetStub

from bot.gateway import Gateway, World
from bot.gateway.service import EVENT_LOGIN, EVENT_MESSAGE, EVENT_READY

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


def test_the_global_gap_between_sends_is_configurable() -> None:
    """linggong run's own pacing (``[wechat].send_interval``): 0 for the crash test and benchmarks."""
    from dataclasses import replace

    from bot.config import ConfigError, load_config, parse_config
    from bot.runtime import timings_for

    config = load_config()
    assert config.wechat.send_interval == 1.0 and timings_for(config).send_interval == 1.0
    fast = replace(config, wechat=replace(config.wechat, send_interval=0.0))
    assert timings_for(fast).send_interval == 0.0
    import tomllib
    from bot.config import PROJECT_ROOT

    data = tomllib.loads((PROJECT_ROOT / "config.toml").read_text(encoding="utf-8"))
    data["wechat"]["send_interval"] = -1
    with pytest.raises(ConfigError, match="wechat.send_interval: must be 0 or more"):
        parse_config(data)
