"""``linggong run`` stops with an error, instead of limping on, when storage has stopped."""

from __future__ import annotations

import asyncio

from bot.cli import run as serve


class FakeFault:
    def describe(self) -> str:
        return "the database disk is full"


class FakeApp:
    def __init__(self) -> None:
        self.stop_event = asyncio.Event()
        self.stopped = None


class FakeRuntime:
    def __init__(self, config, database) -> None:
        self.app = FakeApp()
        self.gateway = None
        self.endpoint = "127.0.0.1:1"
        self.web_url = None
        self.stopped_cleanly = False

        class Conn:
            source = "config"

        self.connection = Conn()

    async def start(self) -> None:
        async def disk_fills_up() -> None:
            self.app.stopped = FakeFault()
            self.app.stop_event.set()

        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(disk_fills_up()))

    async def stop(self) -> None:
        self.stopped_cleanly = True


async def test_run_exits_non_zero_when_storage_stops(config, monkeypatch, capsys):
    made = []
    monkeypatch.setattr(serve, "BotRuntime", lambda c, d, **kw: made.append(FakeRuntime(c, d)) or made[-1])
    code = await asyncio.wait_for(serve.run_bot(config, "x.db"), 5)
    assert code == 3 and made[0].stopped_cleanly
    assert "the database disk is full" in capsys.readouterr().err
