"""The staff dashboard through Quart's test client: login, CSRF, validation, actions through the chat."""

from __future__ import annotations

import html

from bot.web import create_web_app
from bot.web.state import PASSWORD_ENV, dashboard_password
from tests.conftest import Chat, pid
from tests.webkit import GRID1, MARKET, NEED, PASSWORD, Web, web  # noqa: F401


async def test_the_password_comes_from_config_or_the_environment(chat: Chat) -> None:
    import tomllib

    from bot.config import parse_config
    from tests.conftest import ROOT
    assert dashboard_password(chat.app.config) == ""
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert dashboard_password(parse_config(data, environ={PASSWORD_ENV: "from-env"})) == "from-env"
    assert create_web_app(chat.app).extensions["linggong"].password == dashboard_password(chat.app.config)


async def test_without_a_password_the_code_from_wechat_alone_logs_in(chat: Chat) -> None:
    open_ = Web(chat, password="")
    status, text = await open_.get("/login")
    assert status == 200 and 'name="password"' not in text
    status, text = await open_.post("/login", {"staff": "杨先媚"})
    assert status == 200 and "验证码已经私信发到 杨先媚 的微信" in text
    status, _ = await open_.get("/dash/orders")
    assert status == 302, "choosing a name is not logging in"
    sent = await open_.sent()
    (dm,) = [m for m in sent if "登录验证码" in m.text]
    assert dm.contact == pid("杨先媚") and dm.room is None, "the code goes to her bound id, by direct message"
    status, _ = await open_.post("/login/code", {"code": open_.code_sent_to("杨先媚", sent)})
    assert status == 302
    status, _ = await open_.get("/dash/orders")
    assert status == 200


async def test_a_wrong_expired_or_reused_code_logs_nobody_in(web: Web, chat: Chat) -> None:
    await web.get("/login")
    await web.post("/login", {"staff": "杨先媚", "password": PASSWORD})
    code = web.code_sent_to("杨先媚", await web.sent())
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    status, text = await web.post("/login/code", {"code": wrong})
    assert status == 400 and "验证码不对" in text
    chat.clock.advance(301)
    status, text = await web.post("/login/code", {"code": code})
    assert status == 400 and "已过期" in text, "five minutes"
    await web.post("/login", {"staff": "杨先媚", "password": PASSWORD})
    code = web.code_sent_to("杨先媚", await web.sent())
    for _ in range(5):
        await web.post("/login/code", {"code": wrong})
    status, text = await web.post("/login/code", {"code": code})
    assert status == 400 and "已过期" in text, "five wrong codes end the attempt"
    status, _ = await web.get("/dash/orders")
    assert status == 302
    async with chat.repo.transaction() as tx:
        audit = await tx.fetch_all("SELECT kind, actor, detail FROM events WHERE kind LIKE 'web_%'")
    assert [dict(r) for r in audit] == [{"kind": "web_login_failed", "actor": "杨先媚", "detail": "127.0.0.1"}] * 6


async def test_a_code_is_only_good_in_the_browser_that_asked_for_it(web: Web, chat: Chat) -> None:
    await web.get("/login")
    await web.post("/login", {"staff": "杨先媚", "password": PASSWORD})
    code = web.code_sent_to("杨先媚", await web.sent())
    other = Web(chat)
    await other.get("/login")
    status, text = await other.post("/login/code", {"code": code})
    assert status == 400 and "已过期" in text, "no pending login in this browser"


async def test_sessions_live_in_the_database_and_survive_a_restart(web: Web, chat: Chat) -> None:
    await web.login()
    again = Web(chat)  # a restarted bot: a new web app on the same database ...
    again.client.cookie_jar = web.client.cookie_jar
    again.app.secret_key = web.app.secret_key
    status, _ = await again.get("/dash/orders")
    assert status == 200, "... keeps the session"
    async with chat.repo.transaction() as tx:
        rows = await tx.fetch_all("SELECT * FROM web_sessions")
        assert len(rows) == 1 and rows[0]["person"] == "杨先媚" and rows[0]["address"] == "127.0.0.1"
        assert all(c.value not in rows[0]["sid_hash"] for c in web.client.cookie_jar), "only a hash is kept"
    await web.post("/logout")
    async with chat.repo.transaction() as tx:
        audit = await tx.fetch_all("SELECT kind, actor, detail FROM events WHERE kind IN ('web_login', 'web_logout')")
    assert [tuple(r.values()) for r in audit] == [("web_login", "杨先媚", "127.0.0.1"), ("web_logout", "杨先媚", "127.0.0.1")]


async def test_pages_need_a_login(web: Web) -> None:
    response = await web.response("get", "/dash/orders?status=open")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/dash/orders")
    response = await web.client.get("/dash/api/orders", headers={"Accept": "application/json"})
    assert response.status_code == 401


async def test_login_checks_the_name_and_the_password(web: Web) -> None:
    status, text = await web.login(password="wrong")
    assert status == 400 and "密码不对" in text
    status, text = await web.login(staff="张阿姨")  # a resident, not staff
    assert status == 400 and "请选择您的名字" in text
    assert (await web.get("/dash/orders"))[0] == 302
    status, _ = await web.login()
    assert status == 302
    status, text = await web.get("/dash/orders")
    assert status == 200 and "洗马社区 订单" in text and "杨先媚" in text


async def test_repeated_wrong_passwords_are_slowed_down(web: Web) -> None:
    for _ in range(10):
        await web.login(password="guess")
    status, text = await web.login()  # even the right one, for 15 minutes
    assert status == 400 and "15 分钟" in text
    web.chat.clock.advance(minutes=16)
    assert (await web.login())[0] == 302


async def test_a_post_without_the_session_token_is_refused_and_changes_nothing(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await web.login()
    status, text = await web.post("/dash/orders/1/dispatch", {}, csrf=False)
    assert status == 400 and "刷新页面" in text
    status, text = await web.post("/dash/orders/1/dispatch", {"csrf": "forged"}, csrf=False)
    assert status == 400
    status, body = await web.post_json("/dash/orders/1/dispatch", {}, csrf=False)
    assert status == 400 and "csrf" in body["errors"]
    assert (await chat.order(1)).status == "posted"
    status, _ = await web.post("/login", {"staff": "杨先媚", "password": PASSWORD}, csrf=False)
    assert status == 400


async def test_dispatch_from_the_dashboard_is_the_chat_command(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await web.login()
    status, text = await web.get("/dash/orders/1")
    assert status == 200 and "派单到零工市场群" in text and "13908521234" in text
    await web.sent()
    status, _ = await web.post("/dash/orders/1/dispatch?c=洗马社区", {"reward": "80", "note": "自带工具"})
    assert status == 302
    order = await chat.order(1)
    assert (order.status, order.dispatcher, order.reward, order.note) == ("dispatched", "杨先媚", "80元", "自带工具")
    sent = await web.sent()
    card = [s for s in sent if s.room == MARKET]
    assert len(card) == 1 and "#1" in card[0].text and "13908521234" not in card[0].text
    assert [s.text for s in sent if s.contact == pid("杨先媚")] == ["#1 已派到「洗马社区零工市场群」。"]
    async with chat.app.repo.transaction() as tx:
        events = await tx.events_for(order.id)
    assert [(e.kind, e.actor) for e in events] == [("posted", "张阿姨"), ("dispatched", "杨先媚")]
    status, text = await web.get("/dash/orders/1")
    assert "已派到" in text  # the bot's answer, flashed
    assert "派单" in text and "杨先媚" in text  # the timeline


async def test_bad_input_gets_a_message_next_to_the_field_and_changes_nothing(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await web.login()
    await web.sent()
    status, text = await web.post("/dash/orders/1/dispatch", {"reward": "八十块", "note": "x" * 61})
    assert status == 400
    assert 'id="err-reward"' in text and "报酬请填整数金额" in text
    assert 'id="err-note"' in text and "备注最多 60 个字" in text
    status, text = await web.post("/dash/orders/1/assign", {"worker": "99999"})
    assert status == 400 and "请从列表里选择一位已登记的零工" in text
    status, body = await web.post_json("/dash/orders/1/cancel", {"reason": "一\n二"})
    assert status == 400 and "reason" in body["errors"]
    status, text = await web.post("/dash/orders/1/fly", {})
    assert status == 404
    status, text = await web.post("/dash/orders/77/dispatch", {})
    assert status == 404
    assert (await chat.order(1)).status == "posted"
    assert await web.sent() == []


async def test_a_refusal_is_the_chat_refusal(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await web.login()
    status, body = await web.post_json("/dash/orders/1/complete", {})
    assert status == 200 and body["replies"] == ["#1 还没有人接单。"] and body["status"] == "posted"
    assert (await chat.order(1)).status == "posted"


async def test_assign_cancel_and_complete(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say(GRID1, "张阿姨", "需要搬家，洗马路12号，周六上午，电话13908520000")
    await web.login()
    async with chat.app.repo.transaction() as tx:
        xiong = await tx.find_worker("洗马社区", name="熊明祥")
    await web.post("/dash/orders/1/assign", {"worker": str(xiong.id)})
    assert ((await chat.order(1)).status, (await chat.order(1)).taker.name) == ("taken", "熊明祥")
    await web.post("/dash/orders/1/complete", {})
    assert (await chat.order(1)).status == "done"
    await web.post("/dash/orders/2/cancel", {"reason": "居民自己找到人了"})
    order = await chat.order(2)
    assert (order.status, order.cancel_reason) == ("cancelled", "居民自己找到人了")


async def test_staff_see_and_act_only_in_their_own_community(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say("茅草西一网格群", "潘阿姨", "需要修灯，幸福苑2栋，电话13908527777")
    await web.login("田慧")  # staff of 茅草西社区
    status, text = await web.get("/dash/orders?c=洗马社区")
    assert status == 200 and "茅草西社区 订单" in text and "修灯" in text and "修水管" not in text
    await web.post("/dash/orders/1/dispatch?c=洗马社区", {})
    assert (await chat.order(1)).status == "posted"
    assert (await chat.order(1, "茅草西社区")).status == "dispatched"  # her own #1


async def test_filters_search_and_escaping(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await chat.say("洗马社区第二网格群", "周叔叔",
                   "明天要搬家 哪个师傅有空帮忙搬<script>alert(1)</script>，洗马路12号，电话13908520000")
    await web.login()
    _, text = await web.get("/dash/orders")
    assert "<script>alert(1)</script>" not in text and html.escape("<script>alert(1)</script>") in text
    _, text = await web.get("/dash/orders?grid=第二网格")
    assert "洗马路" in text and "修水管" not in text
    _, text = await web.get("/dash/orders?category=家电水电维修&status=posted")
    assert "修水管" in text and "洗马路" not in text
    _, text = await web.get("/dash/orders?q=阳光小区")
    assert "修水管" in text and "洗马路" not in text
    status, text = await web.get("/dash/orders?status=lost&day=23/11")
    assert status == 400 and "没有这个状态" in text and "日期格式如" in text
    response = await web.response("get", "/dash/api/orders?q=搬家")
    body = await response.get_json()
    assert [o["no"] for o in body["orders"]] == [2]
    assert body["orders"][0]["phones"] == ["139****0000"]
    _, rows = await web.get("/dash/orders?partial=1")
    assert rows.lstrip().startswith("<tr")


async def test_pending_reviews_are_listed_with_confirm_and_dismiss_buttons(web: Web, chat: Chat) -> None:
    """An uncertain message (待确认) sits at the top of the order page; the two buttons are 确认N / 不是N."""
    await chat.say(GRID1, "张阿姨", "家里的灯一闪一闪的", sender_id="wxid_zhang")
    await chat.say(GRID1, "李大爷", "厕所有点味道", sender_id="wxid_li")
    assert [(await chat.order(n)).status for n in (1, 2)] == ["pending_review", "pending_review"]
    await web.login()
    status, text = await web.get("/dash/orders")
    assert status == 200 and 'id="reviews"' in text and "待确认 2 条" in text
    assert "/dash/orders/1/confirm" in text and "/dash/orders/2/dismiss" in text
    await web.sent()
    status, _ = await web.post("/dash/orders/1/confirm?c=洗马社区", {"category": "家电水电维修"})
    assert status == 302 and (await chat.order(1)).status == "posted"
    sent = await web.sent()
    assert any(s.room == GRID1 and s.mentions == ("wxid_zhang",) and "#1" in s.text for s in sent)
    status, body = await web.post_json("/dash/orders/2/dismiss?c=洗马社区", {})
    assert status == 200 and body["status"] == "dismissed" and body["replies"] == ["已忽略 #2（不是需求），不会通知居民。"]
    assert not any(s.room == GRID1 for s in await web.sent())
    status, text = await web.get("/dash/orders")
    assert 'id="reviews"' not in text


async def test_confirming_from_the_order_page_can_correct_the_category(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", "家里的灯一闪一闪的", sender_id="wxid_zhang")
    await web.login()
    status, text = await web.get("/dash/orders/1")
    assert 'id="form-confirm"' in text and 'id="form-dismiss"' in text and 'id="form-dispatch"' not in text
    status, text = await web.post("/dash/orders/1/confirm", {"category": "修飞机"})
    assert status == 400 and "请从列表里选择类别" in text
    assert (await chat.order(1)).status == "pending_review"
    await web.post("/dash/orders/1/confirm", {"category": "搬家配送"})
    order = await chat.order(1)
    assert (order.status, order.category) == ("posted", "搬家配送")


async def test_logging_out_ends_the_session_even_for_a_kept_cookie(web: Web, chat: Chat) -> None:
    import copy

    await web.login()
    status, _ = await web.get("/dash/orders")
    assert status == 200
    kept = [copy.copy(c) for c in web.client.cookie_jar]  # someone keeps a copy of the session cookie
    assert kept
    await web.post("/logout")
    for cookie in kept:
        web.client.cookie_jar.set_cookie(cookie)  # ... and replays it after the logout
    status, _ = await web.get("/dash/orders")
    assert status == 302, "the server forgot the session: the old cookie logs nobody in"


async def test_an_idle_session_ends_and_failed_logins_are_limited_per_account(web: Web, chat: Chat) -> None:
    await web.login()
    chat.clock.advance(hours=9)
    status, _ = await web.get("/dash/orders")
    assert status == 302, "eight idle hours end a session"
    for i in range(10):  # ten wrong passwords for 杨先媚, each from another address
        await web.post("/login", {"staff": "杨先媚", "password": "wrong"}, ip=f"10.0.0.{i}")
    status, text = await web.post("/login", {"staff": "杨先媚", "password": PASSWORD}, ip="10.0.1.1")
    assert status == 400 and "太多" in text


async def test_the_audit_says_who_did_what_from_where(web: Web, chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", NEED)
    await web.login()
    await web.post("/dash/orders/1/dispatch", {"reward": "80", "note": "到了打13908521234"}, ip="192.168.1.23")
    assert (await chat.order(1)).status == "dispatched"
    async with chat.repo.transaction() as tx:
        rows = await tx.fetch_all("SELECT actor, detail FROM events WHERE kind = 'web_action'")
    assert [tuple(r.values()) for r in rows] == [("杨先媚", "派单 1 报酬80元 备注 到了打139****1234 · 192.168.1.23")]


async def test_the_stats_page_shows_assignments_apart_from_claims(web: Web, chat: Chat) -> None:
    """Issue 16: a 指派 is no 0-second claim on the stats page either: counted as 指派, left out of
    the median, the claim-time histogram and 接单王, and the page says so."""
    import re

    for no in (1, 2, 3):
        await chat.say(GRID1, "张阿姨", NEED)
        await chat.say(GRID1, "杨先媚", f"派单{no}")
    chat.clock.advance(30)
    await chat.say(MARKET, "熊明祥", "接1")
    chat.clock.advance(60)
    await chat.say(MARKET, "韩德明", "接2")
    chat.clock.advance(3600)
    await chat.say(GRID1, "杨先媚", "指派 3 @曹志强")
    for who, no in (("熊明祥", 1), ("韩德明", 2), ("曹志强", 3)):
        await chat.say(MARKET, who, f"完成{no}")
    await web.login()
    status, page = await web.get("/dash/stats")
    assert status == 200
    counts = {name: n for n, name in re.findall(r"<div><b>([^<]+)</b><span>([^<]+)</span></div>", page)}
    assert (counts["接单"], counts["指派"], counts["完成"], counts["接单用时中位"]) == ("2", "1", "3", "1 分钟")
    assert "接单用时只算抢单，指派的单不计" in page
    (table,) = re.findall(r'<table class="rank">.*?</table>', page, re.DOTALL)
    assert "<th>指派完成</th>" in table and "熊明祥" in table and "曹志强" not in table
    assert table.index("熊明祥") < table.index("韩德明")
    assert "用时和评分也只算抢单；指派的单另列，不计名次" in page
    assert "<title>10秒内：0</title>" in page, "no 0-second claim in the histogram"
    assert "<title>半分钟-1分：1</title>" in page and "<title>1-5分：1</title>" in page
    assert "只算群里抢单；指派的 1 单不计。" in page
    status, order = await web.get("/dash/orders/3")
    assert status == 200 and "曹志强（网格员指派）" in order
    response = await web.response("get", "/board.json")
    data = await response.get_json()
    assert (data["today"]["taken"], data["today"]["assigned"], data["assigned_note"]) == (2, 1, "（另指派 1）")
    assert [r["name"] for r in data["top"]] == ["熊明祥", "韩德明"], "the board's 接单王 counts claims"
    status, board = await web.get("/board")
    assert "（另指派 1）" in board and "抢单完成数" in board


async def test_regression_the_order_list_read_every_order_of_the_community(web: Web, chat: Chat) -> None:
    """The list loaded the community's whole history and cut it in Python: now pages of 100,
    newest first, read as an index range; the text search stops at a bound and says so."""
    from bot.web import queries

    async with chat.repo.transaction() as tx:
        for _ in range(230):
            await tx.insert_numbered_order({
                "community": "洗马社区", "grid": "第一网格", "source": "chat", "status": "done",
                "raw_text": "修水管", "need_text": "修水管", "phones": (), "resident_id": "r", "resident_name": "张阿姨",
                "created_at": 1000.0})
    await web.login()
    response = await web.response("get", "/dash/api/orders")
    body = await response.get_json()
    assert [o["no"] for o in body["orders"]] == list(range(230, 130, -1)) and body["next_before"] == 131
    body = await (await web.response("get", "/dash/api/orders?before=131")).get_json()
    assert [o["no"] for o in body["orders"]] == list(range(130, 30, -1)) and body["next_before"] == 31
    body = await (await web.response("get", "/dash/api/orders?before=31")).get_json()
    assert [o["no"] for o in body["orders"]] == list(range(30, 0, -1)) and body["next_before"] is None
    _, text = await web.get("/dash/orders")
    assert "更早的订单" in text and "before=131" in text and "最新的订单" not in text
    _, text = await web.get("/dash/orders?before=131")
    assert "更早的订单" in text and "最新的订单" in text
    old = queries.SEARCH_LIMIT
    queries.SEARCH_LIMIT = 100  # a small bound: the search reads the newest 100 orders only
    try:
        _, text = await web.get("/dash/orders?q=没有这个词")
    finally:
        queries.SEARCH_LIMIT = old
    assert "只在最新的 100 张订单里搜索了" in text
