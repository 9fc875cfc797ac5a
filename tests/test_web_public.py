"""The public pages: the display board (no personal data), QR ordering (validation, rate limit), posters."""

from __future__ import annotations

import json
import re

from bot.web.posters import qr_svg
from tests.conftest import Chat
from tests.webkit import GRID1, MARKET, NEED, Web, web  # noqa: F401

PERSONAL = ("13908521234", "139****1234", "1234", "2单元", "501", "张阿姨", "周叔叔", "13908525678", "5678",
            "电话", "丁字口")


async def _busy_morning(chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say("洗马社区第二网格群", "周叔叔", "需要两个师傅帮忙搬家，丁字口搬到洗马路12号，周六上午，电话 139 8521 5678")
    await chat.say(GRID1, "杨先媚", "派单 1")
    await chat.say("洗马社区第二网格群", "刘芳", "派单 2")
    chat.clock.advance(7)
    await chat.say(MARKET, "曹志强", "接2")
    chat.clock.advance(300)
    await chat.say(MARKET, "曹志强", "完成2")
    await chat.say("洗马社区第三网格群", "郑大妈", "求助：家里下水道堵了，金鼎苑5幢1单元302室，电话 13712345678")


async def test_the_board_shows_open_orders_counts_and_ranking_without_personal_data(web: Web, chat: Chat) -> None:
    await _busy_morning(chat)
    chat.clock.advance(120)
    status, page = await web.get("/board")
    assert status == 200
    response = await web.response("get", "/board.json")
    data = await response.get_json()
    assert [o["no"] for o in data["open"]] == [1, 3]
    first = data["open"][0]
    assert first == {"no": 1, "status": "待接单", "category": "家电水电维修", "grid": "第一网格",
                     "location": "阳光小区3栋", "time_wish": "今天上午", "waiting": "7 分钟"}
    assert data["open"][1]["location"] == "金鼎苑5幢" and data["open"][1]["status"] == "待派单"
    assert data["today"] == {"posted": 3, "taken": 1, "assigned": 0, "done": 1, "waiting": 2}
    assert data["assigned_note"] == "", "no 指派 today: nothing under 今日接单"
    assert data["top"] == [{"rank": 1, "name": "曹志强", "team": "搬家二队", "done": 1}]
    raw = json.dumps(data, ensure_ascii=False)
    text = re.sub(r"<[^>]+>", " ", page)
    for secret in PERSONAL + ("302", "13712345678", "郑大妈", "下水道堵了", "修水管"):
        assert secret not in raw, secret
        assert secret not in text, secret
    assert "阳光小区3栋" in text and "曹志强" in text and "接单王" in text
    assert "302室" not in text and "1单元" not in text


async def test_the_board_of_an_unknown_community_is_404(web: Web) -> None:
    assert (await web.get("/board?c=火星社区"))[0] == 404
    assert (await web.response("get", "/board.json?c=火星社区")).status_code == 404


ORDER = {"grid": "第三网格", "category": "家电水电维修", "description": "卫生间热水器不出热水",
         "address": "金鼎苑5幢1单元302室", "phone": "13712345678", "time_wish": "明天上午"}


async def test_a_qr_order_is_a_group_message_in_its_grid(web: Web, chat: Chat) -> None:
    status, text = await web.get("/order/洗马社区?grid=第三网格")
    assert status == 200 and "<option selected>第三网格</option>" in text
    status, text = await web.post("/order/洗马社区", ORDER)
    assert status == 200, text
    assert "#1" in text and "扫码下单的居民：收到您的需求，订单号 #1（家电水电维修），时间：明天上午。" in text
    order = await chat.order(1)
    assert (order.grid, order.source, order.origin_room, order.category) == ("第三网格", "qr", "洗马社区第三网格群",
                                                                             "家电水电维修")
    assert (order.address, order.phones, order.time_wish) == ("金鼎苑5幢1单元302室", ("13712345678",), "明天上午")
    assert order.resident_name == ""  # no WeChat name given on the form
    assert order.resident_id.startswith("qr-") and "13712345678" not in order.resident_id
    sent = await web.sent()
    assert [(s.room, s.text.startswith("扫码下单的居民：收到您的需求，订单号 #1"), s.mentions) for s in sent] == [
        ("洗马社区第三网格群", True, ())]  # addressed, but nobody is @-mentioned: WeChat knows no such contact
    await chat.say("洗马社区第三网格群", "孙丽", "派单1")
    card = [s for s in await web.sent() if s.room == MARKET][0]
    assert "金鼎苑5幢" in card.text and "302" not in card.text and "13712345678" not in card.text


async def test_qr_order_validation_names_each_field_and_creates_nothing(web: Web, chat: Chat) -> None:
    await web.get("/order/洗马社区")
    bad = {"grid": "第九网格", "category": "飞行", "description": "修", "address": "我家", "phone": "12345",
           "time_wish": "x" * 21}
    status, text = await web.post("/order/洗马社区", bad)
    assert status == 400
    for key, words in {"grid": "请选择您所在的网格", "category": "请从列表里选择服务类别", "description": "至少 4 个字",
                       "address": "请写上小区或路名和楼栋号", "phone": "11 位手机号", "time_wish": "时间最多 20 个字"}.items():
        assert f'id="err-{key}"' in text and words in text, key
    assert 'value="我家"' in text  # what was typed stays in the form
    status, body = await web.post_json("/order/洗马社区", {**ORDER, "phone": ""})
    assert status == 400 and list(body["errors"]) == ["phone"]
    status, _ = await web.post("/order/洗马社区", ORDER, csrf=False)
    assert status == 400
    assert await chat.orders() == []
    assert await web.sent() == []


async def test_qr_orders_are_rate_limited_per_client_in_the_apps_clock(web: Web, chat: Chat) -> None:
    await web.get("/order/洗马社区")
    for _ in range(5):
        assert (await web.post("/order/洗马社区", ORDER, ip="10.0.0.7"))[0] == 200
    status, text = await web.post("/order/洗马社区", ORDER, ip="10.0.0.7")
    assert status == 429 and "太频繁" in text and "60 分钟" in text
    assert (await web.post("/order/洗马社区", ORDER, ip="10.0.0.8"))[0] == 200  # another phone
    chat.clock.advance(minutes=61)
    status, body = await web.post_json("/order/洗马社区", ORDER, ip="10.0.0.7")
    assert status == 200 and body["ok"] and body["no"] == 7
    assert len(await chat.orders()) == 7


async def test_posters_carry_a_qr_code_to_the_public_url_and_no_phone_numbers(web: Web) -> None:
    status, text = await web.get("/posters")
    assert status == 200 and "第一网格" in text and "水电一队" in text
    status, text = await web.get("/poster/grid/洗马社区/第一网格")
    assert status == 200 and "http://127.0.0.1:8080/order/洗马社区?grid=第一网格" in text  # shown to people
    encoded = "http://127.0.0.1:8080/order/%E6%B4%97%E9%A9%AC%E7%A4%BE%E5%8C%BA?grid=%E7%AC%AC%E4%B8%80%E7%BD%91%E6%A0%BC"
    assert str(qr_svg(encoded, "扫码下单")) in text  # what the code holds
    status, text = await web.get("/poster/team/洗马社区/水电一队")
    assert status == 200 and '<svg class="qr"' in text
    assert "熊明祥" in text and "韩德明" in text and "2026-03-01" in text
    assert "13985201234" not in text and "雷小军" not in text
    assert (await web.get("/poster/team/洗马社区/不存在的队"))[0] == 404
    assert (await web.get("/poster/grid/洗马社区/第九网格"))[0] == 404


async def test_without_a_gateway_the_start_page_links_the_pages_and_there_is_no_simulator(web: Web) -> None:
    status, text = await web.get("/")
    assert status == 200 and "网格员后台" in text and "/order/" in text and "模拟器" not in text
    assert (await web.get("/sim"))[0] == 404
    status, text = await web.get("/order")  # two communities in the demo config: choose one
    assert status == 200 and "洗马社区" in text and "茅草西社区" in text
    status, text = await web.get("/nowhere")
    assert status == 404 and "没有这个页面" in text
