"""The WeChat account's state made visible: the watch, the admins' WeChat page with the QR code,
the red banner, and ``linggong status`` for monitors.  The clock is moved, never slept on."""

from __future__ import annotations

import logging

import pytest

from bot.account import AccountWatch, read_statuses
from bot.cli.status import status_command
from tests.webkit import PASSWORD, Web

QR = "https://login.weixin.qq.com/l/Ab12_mock=="


@pytest.fixture
def watch(chat) -> AccountWatch:
    shown: list[str] = []
    w = AccountWatch(chat.repo, chat.clock, "station@127.0.0.1:8789", alert_after=300, console=shown.append)
    w.shown = shown  # type: ignore[attr-defined]
    return w


async def test_the_states_as_the_adapter_reports_them(watch, chat) -> None:
    assert watch.status.state == "connecting"
    watch.scanned(QR, "Waiting")
    watch.scanned(QR, "Scanned")  # the same code, scanned on the phone: printed once
    assert (watch.status.state, watch.status.qrcode, watch.status.detail) == ("waiting_scan", QR, "Scanned")
    assert len(watch.shown) == 1 and watch.shown[0].startswith(QR) and "█" in watch.shown[0]
    chat.clock.advance(seconds=40)
    watch.logged_in("洗马零工助手", "wxid_bot")
    assert watch.status.ok and watch.status.qrcode == "" and watch.status.name == "洗马零工助手"
    watch.lost("event stream failed: Connection lost")
    assert watch.status.state == "unreachable"
    watch.lost("WeChat logged the account out", logged_out=True)
    assert watch.status.state == "logged_out"
    watch.lost("cannot connect: refused")  # still logged out, since the logout
    assert watch.status.state == "logged_out" and "refused" in watch.status.detail


async def test_down_too_long_is_critical_once_per_episode(watch, chat, caplog) -> None:
    caplog.set_level(logging.CRITICAL, "linggong.account")
    watch.logged_in("洗马零工助手", "wxid_bot")
    watch.lost("event stream failed: Connection lost")
    chat.clock.advance(seconds=299)
    await watch.check()
    assert not watch.alarming() and not caplog.records
    chat.clock.advance(seconds=2)
    await watch.check()
    await watch.check()
    assert watch.alarming() and len(caplog.records) == 1 and "not logged in for 5 minutes" in caplog.text
    watch.logged_in("洗马零工助手", "wxid_bot")
    assert not watch.alarming()
    watch.lost("again")
    chat.clock.advance(seconds=301)
    await watch.check()
    assert len(caplog.records) == 2  # a new episode, a new alert


async def test_the_state_is_recorded_for_other_processes(watch, chat) -> None:
    watch.scanned(QR, "Waiting")
    await watch.check()
    (key, status), = (await read_statuses(chat.repo)).items()
    assert key == "station@127.0.0.1:8789" and status.state == "waiting_scan" and status.qrcode == QR


@pytest.fixture
async def admin(chat, watch) -> Web:
    web = Web(chat)
    web.app.extensions["linggong"].account = watch
    assert (await web.login("糜伶", PASSWORD))[0] == 302
    return web


async def test_the_admins_wechat_page_shows_the_qr_code_while_waiting_for_a_scan(admin, watch, chat) -> None:
    watch.scanned(QR, "Waiting")
    status, text = await admin.get("/dash/wechat")
    assert status == 200 and "等待扫码登录" in text and "<svg" in text and 'http-equiv="refresh"' in text
    watch.logged_in("洗马零工助手", "wxid_bot")
    status, text = await admin.get("/dash/wechat")
    assert "已登录" in text and "洗马零工助手" in text and "<svg" not in text


async def test_grid_staff_do_not_see_the_qr_code(chat, watch) -> None:
    staff = Web(chat)
    staff.app.extensions["linggong"].account = watch
    assert (await staff.login("杨先媚", PASSWORD))[0] == 302
    watch.scanned(QR, "Waiting")
    status, text = await staff.get("/dash/wechat")
    assert status == 403 and QR not in text


async def test_a_red_banner_on_every_staff_page_once_down_too_long(admin, watch, chat) -> None:
    watch.logged_in("洗马零工助手", "wxid_bot")
    watch.lost("event stream failed: Connection lost")
    _, text = await admin.get("/dash/orders")
    assert "wechat-alarm" not in text
    chat.clock.advance(minutes=6)
    for page in ("/dash/orders", "/dash/workers", "/dash/stats"):
        _, text = await admin.get(page)
        assert 'class="wechat-alarm"' in text and "连不上网关已经 6 分钟" in text, page
    _, text = await Web(chat).get("/order")  # residents' pages never show it
    assert "wechat-alarm" not in text


async def test_linggong_status_exits_non_zero_unless_logged_in_and_running(chat, watch, config, tmp_path,
                                                                          capsys) -> None:
    database = str(tmp_path / "test.db")  # the chat fixture's database
    assert await status_command(config, database, False) == 2
    assert "还没有记录" in capsys.readouterr().out
    # linggong status reads the real clock: give the watch the real time
    from bot.clock import SystemClock

    watch.clock = SystemClock(config.tz)
    watch.scanned(QR, "Waiting")
    await watch.check()
    assert await status_command(config, database, False) == 1
    assert "等待扫码登录" in capsys.readouterr().out
    watch.logged_in("洗马零工助手", "wxid_bot")
    await watch.check()
    assert await status_command(config, database, False) == 0
    out = capsys.readouterr().out
    assert "已登录" in out and "洗马零工助手" in out


async def test_the_station_pc_sees_the_qr_code_without_a_login_but_nobody_else_does(chat, watch) -> None:
    """While WeChat is logged out no login code can be sent: the PC itself must still see the QR."""
    web = Web(chat)
    web.app.extensions["linggong"].account = watch
    watch.scanned(QR, "Waiting")
    local = web.app.test_client()
    response = await local.get("/dash/wechat", scope_base={"client": ("127.0.0.1", 50000)})
    assert response.status_code == 200 and "<svg" in await response.get_data(as_text=True)
    for client, headers in ((("192.168.1.23", 50000), {}), (("127.0.0.1", 50000), {"X-Forwarded-For": "1.2.3.4"})):
        response = await local.get("/dash/wechat", scope_base={"client": client}, headers=headers)
        assert response.status_code == 302 and "/login" in response.headers["Location"], client
