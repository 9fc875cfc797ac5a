"""Where residents' phones are sent by the posters' QR codes: the configured public_url, else the
address the web server really serves on; a loopback address is warned about in Chinese."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.web import address
from bot.web.address import is_loopback, public_url, serving_url
from tests.webkit import Web


@pytest.mark.parametrize("configured, host, port, expected", [
    ("", "127.0.0.1", 8080, "http://127.0.0.1:8080"),
    ("", "0.0.0.0", 8090, "http://192.168.3.17:8090"),
    ("", "::", 8090, "http://192.168.3.17:8090"),
    ("", "192.168.3.5", 80, "http://192.168.3.5:80"),
    ("https://xima.example.cn/", "0.0.0.0", 8080, "https://xima.example.cn"),
], ids=["loopback", "every-interface", "every-interface-v6", "one-address", "configured"])
def test_the_public_address(monkeypatch, configured, host, port, expected) -> None:
    monkeypatch.setattr(address, "lan_address", lambda: "192.168.3.17")
    assert public_url(configured, host, port) == expected


@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:8080", True), ("http://localhost:8080", True), ("http://[::1]:8080", True),
    ("http://127.0.1.1:8080", True), ("http://192.168.3.17:8080", False), ("https://xima.example.cn", False),
])
def test_loopback_addresses(url, loopback) -> None:
    assert is_loopback(url) is loopback


def test_the_lan_address_is_an_address() -> None:
    assert serving_url("0.0.0.0", 8080).startswith("http://") and serving_url("0.0.0.0", 8080).endswith(":8080")


async def test_the_posters_page_warns_when_phones_cannot_open_the_qr_codes(chat) -> None:
    web = Web(chat)
    status, text = await web.get("/posters")
    assert status == 200 and "居民扫了打不开" in text and 'host = "0.0.0.0"' in text
    web.app.extensions["linggong"].public_url = "http://192.168.3.17:8080"
    status, text = await web.get("/posters")
    assert "居民扫了打不开" not in text and "http://192.168.3.17:8080" in text
    status, text = await web.get("/poster/grid/洗马社区/第一网格")
    assert "http://192.168.3.17:8080/order/洗马社区?grid=第一网格" in text


async def test_linggong_run_points_the_qr_codes_at_the_port_it_really_got(config, tmp_path, monkeypatch) -> None:
    from bot.runtime import BotRuntime

    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty"))
    monkeypatch.chdir(tmp_path)
    config = replace(config, web=replace(config.web, port=0), wechat=replace(config.wechat, gateway_port=0))
    runtime = BotRuntime(config, str(tmp_path / "addr.db"), scheduler=False)
    await runtime.start()
    try:
        port = runtime.web_url.rsplit(":", 1)[1]
        assert runtime.public_url == f"http://127.0.0.1:{port}" and port != "0"
        assert runtime.web_app.extensions["linggong"].public_url == runtime.public_url
    finally:
        await runtime.stop()


async def test_regression_the_grid_poster_printed_the_staffs_config_records(chat) -> None:
    """The footer said 联系网格员：Person(name='杨先媚', wechat_id='wxid_yangxianmei')…: a
    WeChat id on a public poster.  Names only."""
    _, text = await Web(chat).get("/poster/grid/洗马社区/第一网格")
    assert "联系网格员：杨先媚、王晓红" in text
    assert "Person(" not in text and "wxid_" not in text
