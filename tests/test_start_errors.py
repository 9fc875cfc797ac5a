"""linggong run's start-up errors are Chinese and say what to change."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from bot.runtime import BotRuntime


@pytest.mark.parametrize("which, key", [("web", "[web] port"), ("gateway", "[wechat] gateway_port")])
async def test_a_port_in_use_is_explained_in_chinese(config, tmp_path, monkeypatch, which, key) -> None:
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty"))
    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if which == "web":
            config = replace(config, web=replace(config.web, port=port), wechat=replace(config.wechat, gateway_port=0))
        else:
            config = replace(config, wechat=replace(config.wechat, gateway_port=port))
        runtime = BotRuntime(config, str(tmp_path / "ports.db"), scheduler=False)
        with pytest.raises(OSError) as raised:
            await runtime.start()
        await runtime.stop()
    message = str(raised.value)
    assert f"127.0.0.1:{port} 用不了" in message and key in message and "空闲端口" in message
