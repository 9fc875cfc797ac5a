"""Everything in one process: the local WeChat gateway, the real wechaty client, the app, its
outbox sender and the web pages, as one async context manager.

    async with local_stack(config, database="data/linggong.db") as stack:
        print(stack.url)          # the simulator
        await stack.stopped()     # or anything else; leaving the block shuts it all down

It is ``bot.runtime.BotRuntime`` (what ``linggong run`` starts) waited until logged in;
browser tests use it with ``web_port=0`` and fast ``Timings``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from quart import Quart

from bot.app import App
from bot.clock import Clock
from bot.config import Config
from bot.gateway import Gateway, World
from bot.gateway.config_world import world_from_config
from bot.runtime import BotRuntime

log = logging.getLogger(__name__)


@dataclass
class Stack:
    config: Config
    app: App
    gateway: Gateway
    world: World
    bot: object  # bot.wechaty_adapter.WechatyBot
    web_app: Quart
    host: str
    port: int
    shutdown: asyncio.Event

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stopped(self) -> None:
        await self.shutdown.wait()


@contextlib.asynccontextmanager
async def local_stack(
    config: Config,
    *,
    database: str,
    web_host: str | None = None,
    web_port: int | None = None,
    gateway_port: int = 0,
    clock: Clock | None = None,
    timings: object | None = None,
    min_interval: float | None = None,
    password: str | None = None,
    ready_timeout: float = 15.0,
) -> AsyncIterator[Stack]:
    """The ``linggong run`` runtime on the local gateway, logged in, without scheduled jobs.

    ``web_host``/``web_port`` default to ``[web]`` in config (port 0 picks a free one);
    ``min_interval`` overrides the outbox's pacing (tests use 0); ``timings`` are the
    wechaty adapter's ``Timings``.
    """
    if min_interval is not None:
        config = replace(config, outbox=replace(config.outbox, min_interval=min_interval))
    config = replace(
        config,
        wechat=replace(config.wechat, endpoint="", gateway_port=gateway_port),
        web=replace(config.web, host=web_host or config.web.host,
                    port=config.web.port if web_port is None else web_port),
    )
    runtime = BotRuntime(config, database, timings=timings, clock=clock, scheduler=False,  # type: ignore[arg-type]
                         web_password=password)
    async with runtime:
        await runtime.wait_ready(ready_timeout)
        assert runtime.app is not None and runtime.gateway is not None and runtime.web_url is not None
        port = int(runtime.web_url.rsplit(":", 1)[1])
        stack = Stack(config, runtime.app, runtime.gateway, world_from_config(config), runtime.bot, runtime.web_app,
                      config.web.host, port, asyncio.Event())
        yield stack
