"""The simulator over the real stack (gateway <-> wechaty <-> app), without a browser:
its JSON endpoints, validation, and the server-sent event stream read off a real socket."""

from __future__ import annotations

import asyncio
import json
import re

from tests.stack import Stack
from tests.webkit import CSRF_RE, NEED
from tests.webstack import room_id, stack, wait_item  # noqa: F401


async def _csrf(client) -> str:
    page = await (await client.get("/sim")).get_data(as_text=True)
    m = re.search(r'<meta name="csrf" content="([^"]+)"', page) or CSRF_RE.search(page)
    assert m is not None
    return m.group(1)


async def test_a_message_typed_in_the_simulator_goes_through_wechat_and_the_reply_comes_back(stack: Stack) -> None:
    client = stack.web_app.test_client()
    token = await _csrf(client)
    grid = room_id(stack, "洗马社区第一网格群")
    response = await client.post("/sim/send", json={"conv": grid, "speaker": "张阿姨", "text": NEED},
                                  headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert (await response.get_json())["item"]["sender_name"] == "张阿姨"
    ack = await wait_item(stack, lambda i: i.kind == "bot" and i.conv == grid)
    assert "订单号 #1" in ack.text and ack.mentions == ("张阿姨",) and ack.text.startswith("@张阿姨\u2005")
    async with stack.app.repo.transaction() as tx:
        order = await tx.get_order("洗马社区", 1)
    assert order is not None and order.origin_room == "洗马社区第一网格群"

    await client.post("/sim/send", json={"conv": "dm:wxid_yangxianmei", "speaker": "wxid_yangxianmei", "text": "派单 1"},
                      headers={"X-CSRF-Token": token})
    market = room_id(stack, "洗马社区零工市场群")
    card = await wait_item(stack, lambda i: i.kind == "bot" and i.conv == market)
    assert "【派单 #1】" in card.text and "13908521234" not in card.text
    dm = await wait_item(stack, lambda i: i.kind == "bot" and i.conv == "dm:wxid_yangxianmei")
    assert "已派到" in dm.text
    state = await (await client.get("/sim/state.json")).get_json()
    assert [i["text"] for i in state["items"] if i["conv"] == "dm:wxid_yangxianmei"] == ["派单 1", dm.text]
    roles = {p["name"]: p["role_name"] for p in state["people"]}
    assert (roles["张阿姨"], roles["杨先媚"], roles["熊明祥"], roles["糜伶"]) == ("居民", "网格员", "零工", "管理员")


async def test_the_simulator_refuses_bad_input(stack: Stack) -> None:
    client = stack.web_app.test_client()
    token = await _csrf(client)
    grid = room_id(stack, "洗马社区第一网格群")
    cases = [({"conv": grid, "speaker": "wxid_xiongmingxiang", "text": "你好"}, "speaker"),  # not in that group
             ({"conv": "dm:wxid_yangxianmei", "speaker": "张阿姨", "text": "你好"}, "speaker"),
             ({"conv": "nowhere", "speaker": "张阿姨", "text": "你好"}, "conv"),
             ({"conv": grid, "speaker": "张阿姨", "text": "  "}, "text")]
    for body, field in cases:
        response = await client.post("/sim/send", json=body, headers={"X-CSRF-Token": token})
        assert response.status_code == 400 and field in (await response.get_json())["errors"]
    response = await client.post("/sim/send", json={"conv": grid, "speaker": "张阿姨", "text": "你好"})
    assert response.status_code == 400  # no CSRF token
    response = await client.post("/sim/people", json={"name": "欧阳华", "conv": room_id(stack, "洗马社区零工市场群")},
                                 headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    response = await client.post("/sim/people", json={"name": "欧阳华", "conv": grid}, headers={"X-CSRF-Token": token})
    assert response.status_code == 400 and "已经有这个人了" in json.dumps((await response.get_json()), ensure_ascii=False)
    assert stack.gateway.sent == []


async def test_the_event_stream_delivers_what_people_and_the_bot_say(stack: Stack) -> None:
    reader, writer = await asyncio.open_connection(stack.host, stack.port)
    try:
        writer.write(b"GET /sim/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"200" in head.split(b"\r\n")[0] and b"text/event-stream" in head
        hub = stack.web_app.extensions["linggong"].hub
        await hub.say("dm:wxid_xiongmingxiang", "wxid_xiongmingxiang", "帮助")
        seen: list[dict] = []
        async with asyncio.timeout(10):
            while not any(e["kind"] == "bot" for e in seen):
                line = await reader.readline()
                if line.startswith(b"data: "):
                    seen.append(json.loads(line[6:]))
        assert seen[0]["text"] == "帮助" and seen[0]["conv"] == "dm:wxid_xiongmingxiang"
        assert seen[-1]["conv"] == "dm:wxid_xiongmingxiang" and seen[-1]["sender_name"] == stack.config.bot.name
    finally:
        writer.close()
