"""Everything in one process: the local WeChat gateway, the real wechaty client, the app, its
outbox sender and the web pages, as one async context manager.

    async with local_stack(config, database="data/linggong.db") as stack:
        print(stack.url)          # the simulator
        await stack.stopped()     # or anything else; leaving the block shuts it all down

Browser tests use it with ``web_port=0`` and fast ``Timings``; ``linggong run`` can use it as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from quart import Quart

from bot.app import App
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.directory import Directory
from bot.gateway import Gateway, World
from bot.gateway.world_config import world_from_config
from bot.web import create_web_app, open_listener, serve_web
from storage import open_repository

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
    data_dir: str = "data",
    password: str | None = None,
    ready_timeout: float = 15.0,
) -> AsyncIterator[Stack]:
    """Start the whole local stack; stop it in reverse order on exit.

    ``web_host``/``web_port`` default to ``[web]`` in config (port 0 picks a free one);
    ``min_interval`` overrides the outbox's pacing (tests use 0); ``timings`` are the
    wechaty adapter's ``Timings``.
    """
    from bot.wechaty_adapter import WechatyBot, WechatyTransport

    if min_interval is not None:
        config = replace(config, outbox=replace(config.outbox, min_interval=min_interval))
    clock = clock or SystemClock(config.tz)
    world = world_from_config(config)
    gateway = Gateway(world, port=gateway_port)
    await gateway.start()
    async with contextlib.AsyncExitStack() as exits:
        exits.push_async_callback(gateway.stop)
        repo = await open_repository(database)
        exits.push_async_callback(repo.close)
        transport = WechatyTransport()
        app = App(config, repo, clock, transport)
        await app.setup()
        bot = WechatyBot(app.process, Directory(config).group_keys, gateway.endpoint, None,
                         transport=transport, timings=timings, data_dir=data_dir, tz=config.tz)
        bot.start()
        exits.push_async_callback(bot.stop)
        await bot.wait_ready(ready_timeout)
        stop_outbox = asyncio.Event()
        outbox_task = asyncio.create_task(app.outbox.run(stop_outbox), name="outbox")

        async def end_outbox() -> None:
            stop_outbox.set()
            async with asyncio.timeout(10):  # wake it until it sees stop (a wake during a flush can be lost)
                while not outbox_task.done():
                    app.outbox.wake()
                    await asyncio.wait({outbox_task}, timeout=0.05)
            outbox_task.result()

        exits.push_async_callback(end_outbox)
        web_app = create_web_app(app, gateway=gateway, world=world, password=password)
        host = web_host or config.web.host
        sock = open_listener(host, config.web.port if web_port is None else web_port)
        port = sock.getsockname()[1]
        shutdown = asyncio.Event()
        server = asyncio.create_task(serve_web(web_app, host, port, shutdown, sock=sock), name="web")

        async def end_server() -> None:
            shutdown.set()
            await asyncio.wait_for(server, 10)

        exits.push_async_callback(end_server)
        serving = asyncio.ensure_future(web_app.extensions["linggong_serving"].wait())
        done, _ = await asyncio.wait({server, serving}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        if server in done:
            serving.cancel()
            server.result()  # raises what stopped the server
            raise RuntimeError("the web server stopped at start")
        if not done:
            serving.cancel()
            raise TimeoutError("the web server did not start")
        stack = Stack(config, app, gateway, world, bot, web_app, host, port, shutdown)
        log.info("web pages at %s", stack.url)
        yield stack
