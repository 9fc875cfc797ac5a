"""The whole local stack for simulator and browser tests: gateway + real wechaty client + app on a
temporary SQLite + outbox sender + the web app on an ephemeral port (``bot.web.stack.local_stack``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Config
from bot.web.simhub import ChatItem
from bot.wechat.support import Timings
from tests.stack import Stack, local_stack

PASSWORD = "xima-2026"
FAST = Timings(ding_interval=0.5, event_deadline=10.0, rpc_timeout=5.0, connect_timeout=2.0, backoff_initial=0.05,
               backoff_factor=2.0, backoff_max=0.3, send_ready_wait=5.0, cache_ttl=60.0,
               shutdown_grace=2.0)


@pytest.fixture
async def stack(config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty-cache"))
    monkeypatch.chdir(tmp_path)
    config = replace(config, outbox=replace(config.outbox, per_minute=10_000))
    async with local_stack(config, database=str(tmp_path / "web.db"), web_host="127.0.0.1", web_port=0,
                           timings=FAST, min_interval=0.0,
                           password=PASSWORD) as s:
        yield s
    assert not (tmp_path / ".wechaty").exists()


async def wait_item(stack: Stack, predicate: Callable[[ChatItem], bool], timeout: float = 10.0) -> ChatItem:
    """The first chat item (already logged or arriving within ``timeout``) that matches."""
    hub = stack.web_app.extensions["linggong"].hub
    queue = hub.subscribe()
    try:
        for item in hub.since(0):
            if predicate(item):
                return item
        async with asyncio.timeout(timeout):
            while True:
                item = await queue.get()
                if item is not None and predicate(item):
                    return item
    finally:
        hub.unsubscribe(queue)


def room_id(stack: Stack, topic: str) -> str:
    return next(r.id for r in stack.world.rooms if r.topic == topic)
