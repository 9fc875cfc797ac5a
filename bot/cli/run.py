"""``linggong run`` and ``linggong gateway``: long-running commands that stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.cli.common import add_db, database, fail, reason, say
from bot.config import Config
from bot.render import Renderer
from bot.runtime import GATEWAY_HEARTBEAT, LOCAL_HOST, BotRuntime
from storage import display_database

if TYPE_CHECKING:
    from bot.gateway import Gateway, SentRecord

log = logging.getLogger("linggong.run")


RUN_HELP = "运行机器人，通过 wechaty 连微信（没设网关地址时连本机模拟的微信），按 Ctrl-C 停止"
RUN_DESCRIPTION = """运行机器人：通过 wechaty 连微信，收发群消息、派单、定时发统计，同时开网页
（模拟微信、网格员后台、驿站大屏、扫码下单）。
没设 WECHATY_PUPPET_SERVICE_ENDPOINT 和 config.toml 的 [wechat] endpoint 时，连本机模拟的微信。
按 Ctrl-C 停止。"""
GATEWAY_HELP = "只运行本机模拟的微信网关"
GATEWAY_DESCRIPTION = """只运行本机模拟的微信网关（群和成员来自 config.toml），按 Ctrl-C 停止。
另开一个终端用 WECHATY_PUPPET_SERVICE_ENDPOINT=地址 linggong run 让机器人连过来。"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    rn = sub.add_parser("run", parents=[common], help=RUN_HELP, description=RUN_DESCRIPTION)
    add_db(rn)
    rn.set_defaults(func=lambda args, config: run_bot(config, database(args, config)))
    g = sub.add_parser("gateway", parents=[common], help=GATEWAY_HELP, description=GATEWAY_DESCRIPTION)
    g.add_argument("--port", type=int, metavar="端口",
                   help="在 127.0.0.1 的这个端口监听（默认：[wechat] gateway_port）")
    g.set_defaults(func=lambda args, config: run_gateway(config, args.port))


def start_error(exc: OSError) -> str:
    """Why the bot did not start.  bot/runtime.py words a taken port itself (in Chinese, naming the
    address and the config key to change): that is shown as it is; a system error is translated."""
    if exc.errno is None:
        return str(exc)
    return say("start_failed", message=(f"{exc.filename}：" if exc.filename else "") + reason(exc))


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT (Ctrl-C) and SIGTERM while inside the block."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def log_sent(gateway: Gateway) -> None:
    """Log what the bot sends through a local gateway (phones masked by the log filter)."""
    queue = gateway.subscribe_sent()
    rooms = {room.id: room.topic for room in gateway.state.rooms.values()}
    try:
        while True:
            record: SentRecord = await queue.get()
            where = rooms.get(record.room_id or "", record.room_id) if record.room_id else f"DM {record.contact_id}"
            log.info("bot -> %s: %s", where, record.text.replace("\n", " / "))
    finally:
        gateway.unsubscribe_sent(queue)


def quiet_libraries() -> None:
    """Keep the libraries' routine INFO lines (every job added, every cancelled stream) out of the log."""
    for name in ("apscheduler", "grpclib"):
        logging.getLogger(name).setLevel(logging.WARNING)


async def run_bot(config: Config, database: str) -> int:
    """Run the bot until Ctrl-C/SIGTERM (``linggong run``)."""
    quiet_libraries()
    stop = asyncio.Event()
    with stop_on_signals(stop):
        runtime = BotRuntime(config, database, console=True)
        watcher: asyncio.Task[None] | None = None
        try:
            try:
                await runtime.start()
            except OSError as exc:  # e.g. the local gateway's port is taken
                fail(start_error(exc))
                return 2
            if runtime.gateway is not None:
                watcher = asyncio.create_task(log_sent(runtime.gateway))
            print(Renderer(config.tz).render("run_banner", {
                "bot": config.bot.name, "endpoint": runtime.endpoint, "local": runtime.gateway is not None,
                "source": runtime.connection.source, "database": display_database(database), "web": runtime.web_url}), flush=True)
            assert runtime.app is not None
            fault = asyncio.ensure_future(runtime.app.stop_event.wait())
            signalled = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fault, signalled}, return_when=asyncio.FIRST_COMPLETED)
            fault.cancel()
            signalled.cancel()
            if runtime.app.stopped is not None:  # disk full / read-only database: stop, do not limp on
                fail(say("stopped", message=runtime.app.stopped.describe()))
                return 3
        finally:
            if watcher is not None:
                watcher.cancel()
            await runtime.stop()
    return 0


async def run_gateway(config: Config, port: int | None) -> int:
    """Run the local gateway alone until Ctrl-C/SIGTERM (``linggong gateway``)."""
    from bot.gateway import Gateway, world_from_config

    quiet_libraries()
    stop = asyncio.Event()
    world = world_from_config(config)
    gateway = Gateway(world, LOCAL_HOST, config.wechat.gateway_port if port is None else port,
                      heartbeat_interval=GATEWAY_HEARTBEAT)
    with stop_on_signals(stop):
        try:
            await gateway.start()
        except OSError as exc:
            fail(say("gateway_listen", host=LOCAL_HOST, port=gateway.port, reason=reason(exc)))
            return 2
        watcher = asyncio.create_task(log_sent(gateway))
        try:
            print(Renderer(config.tz).render("gateway_banner", {
                "endpoint": gateway.endpoint, "contacts": len(world.contacts), "groups": len(world.rooms)}),
                flush=True)
            await stop.wait()
        finally:
            watcher.cancel()
            await gateway.stop()
    return 0
