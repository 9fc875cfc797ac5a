"""Identity is the contact id, never the display name: binding codes, resets, impostors.

People here have contact ids that differ from their names (tests/conftest.py), and an impostor
is a member who copies a staff member's or worker's display name — or whose display name is
the right person's id.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.config import Person
from bot.identity import binding_sheet
from tests.conftest import Chat

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"
YANG = "wxid_yangxianmei"  # 杨先媚's real account in the demo config


@pytest.fixture
def unbound_config(config):
    """The demo, but 杨先媚 is configured by name only: she must bind before she can act."""
    xima = config.communities[0]
    grid = replace(xima.grids[0], staff=(Person("杨先媚"), Person("王晓红", "wxid_wangxiaohong")))
    return replace(config, communities=(replace(xima, grids=(grid, *xima.grids[1:])), *config.communities[1:]))


@pytest.fixture
async def ubchat(unbound_config, tmp_path):
    from tests.test_authz import open_chat

    chat = await open_chat(unbound_config, tmp_path / "id.db")
    yield chat
    await chat.repo.close()


async def codes(chat: Chat, **kw) -> dict[str, str]:
    async with chat.repo.transaction() as tx:
        sheet = await binding_sheet(tx, chat.app.directory.identities, chat.clock.now().timestamp(), **kw)
    return {e.name: e.code for e in sheet if e.code}


async def test_an_unbound_person_cannot_act_until_they_send_their_code(ubchat):
    await ubchat.say(GRID1, "张阿姨", NEED)
    sent = await ubchat.say(GRID1, "杨先媚", "派单1", sender_id=YANG)
    assert "只有本社区的网格员" in sent[0].text and (await ubchat.order(1)).status == "posted"
    code = (await codes(ubchat))["杨先媚"]
    sent = await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id=YANG)
    assert any(s.contact == YANG and "绑定成功" in s.text and "网格员 杨先媚" in s.text for s in sent)
    assert any(s.contact == "wxid_miling" and "杨先媚" in s.text and "已绑定微信" in s.text for s in sent)
    await ubchat.say(GRID1, "杨先媚", "派单1", sender_id=YANG)
    assert (await ubchat.order(1)).status == "dispatched"
    sent = await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id="u_someone")
    assert "绑定码不对或已过期" in sent[0].text, "a code works once"


async def test_a_code_posted_in_a_group_is_used_up(ubchat):
    code = (await codes(ubchat))["杨先媚"]
    sent = await ubchat.say(GRID1, "杨先媚", f"绑定 {code}", sender_id=YANG)
    assert "请私信" in sent[0].text and "已作废" in sent[0].text
    sent = await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id=YANG)
    assert "绑定码不对" in sent[0].text
    assert not ubchat.app.directory.staff_grids(ubchat.app.config.communities[0], YANG)


async def test_an_expired_code_and_too_many_wrong_codes_are_refused(ubchat):
    code = (await codes(ubchat, hours=1))["杨先媚"]
    ubchat.clock.advance(hours=2)
    sent = await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id=YANG)
    assert "已过期" in sent[0].text
    for _ in range(5):
        await ubchat.say(None, "路人甲", "绑定 000000")
    code = (await codes(ubchat))["杨先媚"]
    sent = await ubchat.say(None, "路人甲", f"绑定 {code}")
    assert "错误次数太多" in sent[0].text, "the sixth try of a contact is not even looked at"


async def test_resetting_a_binding_takes_every_right_away_at_once(ubchat):
    code = (await codes(ubchat))["杨先媚"]
    await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id=YANG)
    await ubchat.say(GRID1, "张阿姨", NEED)
    sent = await ubchat.say(GRID1, "糜伶", "解绑 杨先媚")
    assert "已解绑 杨先媚" in sent[0].text
    sent = await ubchat.say(GRID1, "杨先媚", "派单1", sender_id=YANG)
    assert "只有本社区的网格员" in sent[0].text and (await ubchat.order(1)).status == "posted"
    sent = await ubchat.say(GRID1, "王晓红", "解绑 杨先媚")
    assert "只有管理员" in sent[0].text, "grid staff cannot reset bindings"


async def test_resetting_a_binding_ends_her_dashboard_session_too(ubchat):
    from tests.webkit import Web

    code = (await codes(ubchat))["杨先媚"]
    await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id=YANG)
    web = Web(ubchat)
    assert (await web.login("杨先媚"))[0] == 302
    assert (await web.get("/dash/orders"))[0] == 200
    await ubchat.say(None, "糜伶", "解绑 杨先媚")  # her phone was lost
    status, _ = await web.get("/dash/orders")
    assert status == 302, "the old id loses the dashboard at once"


async def test_a_rostered_worker_with_a_nickname_binds_with_a_code(chat, grid1, market, tmp_path):
    from bot.sheets.roster import import_roster, parse_roster

    rows = parse_roster("姓名,微信号或昵称,电话,技能,团队,承诺书日期,状态\n"
                        "吴师傅,老吴,13800009999,家电水电维修,,2026-03-01,正常\n", [c.name for c in chat.app.config.categories])
    await import_roster(chat.repo, "洗马社区", rows, 0.0)
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单1")
    sent = await market.say("吴师傅", "接1", sender_id="wxid_wu")
    assert "还没有绑定" in sent[0].text and (await chat.order(1)).status == "dispatched"
    sent = await grid1.say("杨先媚", "指派 1 @吴师傅")
    assert "还没有绑定" in sent[0].text, "details never go to a nickname"
    code = (await codes(chat, people=False))["吴师傅"]
    await chat.say(None, "吴师傅", f"绑定 {code}", sender_id="wxid_wu")
    sent = await market.say("吴师傅", "接1", sender_id="wxid_wu")
    assert (await chat.order(1)).taker.name == "吴师傅"
    assert any(s.contact == "wxid_wu" and "13908521234" in s.text for s in sent), "the details go to the bound id"


# -- the impostor matrix ----------------------------------------------------------------------

async def _setup(chat, grid1, market) -> None:
    """The authorisation matrix's community: #1 posted, #2 dispatched, #3 taken and #4 done by
    熊明祥, #5 待确认; 雷小军 suspended, 欧阳华 pending."""
    from tests.test_authz import setup_community

    await setup_community(chat)


IMPOSTORS = [  # (room, copied display name, text, what the right person could do)
    (GRID1, "杨先媚", "派单1", "dispatch"), (GRID1, "杨先媚", "指派 2 @熊明祥", "assign"),
    (GRID1, "杨先媚", "取消2", "cancel"), (GRID1, "杨先媚", "改派3", "redispatch"),
    (GRID1, "杨先媚", "通过 欧阳华", "approve"), (GRID1, "杨先媚", "停用 熊明祥", "suspend"),
    (GRID1, "杨先媚", "代发单 李奶奶家马桶堵了，电话13908528888", "proxy"),
    (GRID1, "糜伶", "解绑 熊明祥", "unbind"), (MARKET, "熊明祥", "接2", "claim"),
    (MARKET, "熊明祥", "完成3", "complete"), (MARKET, "熊明祥", "放弃3", "release"),
    (GRID1, "张阿姨", "满意4", "rate"), (GRID1, "张阿姨", "取消1", "resident cancel"),
]


@pytest.mark.parametrize("room, name, text, what", IMPOSTORS, ids=[i[3] for i in IMPOSTORS])
@pytest.mark.parametrize("disguise", ["copied-name", "name-is-the-id"])
async def test_an_impostor_gets_a_short_refusal_and_changes_nothing(chat, grid1, market, room, name, text,
                                                                    what, disguise):
    await _setup(chat, grid1, market)
    real = chat.id(name)
    display = name if disguise == "copied-name" else real
    before = [(o.no, o.status, o.taker_id, o.rating) for o in await chat.orders()]
    async with chat.repo.transaction() as tx:
        workers = [(w.name, w.status, w.wechat, w.bound_at) for w in await tx.list_workers("洗马社区")]
    sent = await chat.say(room, display, text, sender_id="u_impostor")
    assert len(sent) <= 1 and all(s.mentions == ("u_impostor",) for s in sent), [(s.contact, s.text) for s in sent]
    assert not any(s.contact is not None for s in sent), "no direct message to anyone"
    assert [(o.no, o.status, o.taker_id, o.rating) for o in await chat.orders()] == before
    async with chat.repo.transaction() as tx:
        assert [(w.name, w.status, w.wechat, w.bound_at) for w in await tx.list_workers("洗马社区")] == workers


async def test_my_orders_and_details_follow_the_id_not_the_name(chat, grid1, market):
    await _setup(chat, grid1, market)
    sent = await market.say("熊明祥", "我的订单", sender_id="u_impostor")
    assert "#3" not in sent[0].text, "an impostor does not read the worker's orders"
    sent = await grid1.say("张阿姨", "查1", sender_id="u_impostor")
    assert "13908521234" not in sent[0].text


def test_no_code_grants_a_role_by_display_name():
    """The role checks take a contact id only: nothing in bot/ or handlers/ asks a display name
    whether someone is staff, admin or a worker."""
    import re

    from tests.conftest import ROOT

    pattern = re.compile(r"(is_staff|is_admin|staff_grids|staff_community|is_community_admin|find_worker)\([^)]*"
                         r"(sender_name|ctx\.sender\b)")
    offenders = []
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in pattern.finditer(text)]
    allowed = {"handlers/claim.py: find_worker(ctx.community.name, name=ctx.sender"}  # only picks the hint
    assert set(offenders) <= allowed, offenders


async def test_upgrading_keeps_orders_and_workers_and_binds_only_real_ids(tmp_path):
    """A database from before the identity migration: every order and worker stays; a worker whose
    wechat is a WeChat id stays bound, one with a nickname is listed by linggong bind as unbound."""
    import sqlite3

    from storage.migrations import load_migrations
    from storage.sqlite import SqliteRepository

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for number, _, sql in load_migrations():
        if number < 6:
            db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    for name, wechat in (("熊明祥", "wxid_xiongmingxiang"), ("老王", "老王的昵称")):
        db.execute("INSERT INTO workers (community, name, wechat, phone, skills, status, registered_at) "
                   "VALUES ('洗马社区', ?, ?, '13900000000', '[]', 'active', 1.0)", (name, wechat))
    db.execute("INSERT INTO orders (community, no, grid, source, status, raw_text, need_text, resident_id, "
               "resident_name, created_at) VALUES ('洗马社区', 1, '第一网格', 'chat', 'posted', '修水管', '修水管', "
               "'u_a', '张阿姨', 1.0)")
    db.commit()
    db.close()
    repo = SqliteRepository(str(path))
    await repo.open()
    try:
        async with repo.transaction() as tx:
            workers = {w.name: w.bound for w in await tx.list_workers("洗马社区")}
            assert workers == {"熊明祥": True, "老王": False}
            assert [o.no for o in await tx.find_orders()] == [1]
    finally:
        await repo.close()


def test_linggong_bind_lists_everyone_and_gives_codes_to_the_unbound(tmp_path, capsys):
    from bot.cli import main
    from tests.conftest import ROOT

    text = (ROOT / "config.toml").read_text(encoding="utf-8").replace(
        '{ name = "杨先媚", wechat_id = "wxid_yangxianmei" }', '"杨先媚"')
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    db = str(tmp_path / "b.db")
    assert main(["bind", "--config", str(config), "--db", db]) == 0
    out = capsys.readouterr().out
    assert "已绑定 wxid_wangxiaohong" in out and "已绑定 wxid_xiongmingxiang" in out
    [line] = [x for x in out.splitlines() if "杨先媚" in x]
    assert "绑定码" in line and "1 人待绑定" in out
    assert main(["bind", "--config", str(config), "--db", db, "--reset", "熊明祥"]) == 0
    assert "已解绑 熊明祥" in capsys.readouterr().out
    assert main(["workers", "codes", "--config", str(config), "--db", db]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if "熊明祥" in x]
    assert "绑定码" in line


# -- the simulator shows every chat: never open to a station network by accident ----------------

@pytest.mark.parametrize("host, flag, mode", [
    ("127.0.0.1", False, "open"), ("localhost", False, "open"), ("0.0.0.0", False, "off"),
    ("192.168.1.10", False, "off"), ("0.0.0.0", True, "admin"),
])
def test_the_simulator_is_open_only_on_loopback(config, host, flag, mode):
    from bot.web import simulator_mode

    assert simulator_mode(replace(config, web=replace(config.web, host=host, simulator=flag))) == mode


@pytest.mark.parametrize("mode", ["off", "admin"])
async def test_off_loopback_the_simulator_is_hidden_or_for_admins_only(chat, mode):
    from bot.gateway import Gateway, world_from_config
    from bot.web import create_web_app
    from tests.webkit import PASSWORD, Web

    web = Web(chat)
    web.app = create_web_app(chat.app, gateway=Gateway(world_from_config(chat.app.config)), password=PASSWORD,
                             simulator=mode)
    web.client = web.app.test_client()
    status, _ = await web.get("/sim")
    if mode == "off":
        assert status == 404
        return
    assert status == 302, "a login first"
    await web.login("杨先媚")
    status, text = await web.get("/sim")
    assert status == 403 and "只有管理员" in text, "grid staff do not read every chat"
    await web.post("/logout")
    web.csrf = ""
    await web.login("糜伶")
    status, _ = await web.get("/sim")
    assert status == 200


async def test_an_admin_makes_binding_codes_on_the_dashboard(ubchat):
    import re

    from tests.webkit import Web

    staff = Web(ubchat)
    assert (await staff.login("王晓红"))[0] == 302
    status, _ = await staff.get("/dash/bindings")
    assert status == 403, "grid staff make no codes"
    admin = Web(ubchat)
    assert (await admin.login("糜伶"))[0] == 302
    status, text = await admin.get("/dash/bindings")
    row = text[text.index("<b>杨先媚</b>"):]
    assert status == 200 and "未绑定" in row[:row.index("</tr>")] and 'class="code"' not in text
    status, text = await admin.post("/dash/bindings/codes", {})
    row = text[text.index("<b>杨先媚</b>"):]
    code = re.search(r'<b class="code">([0-9]{6})</b>', row[:row.index("</tr>")]).group(1)
    sent = await ubchat.say(None, "杨先媚", f"绑定 {code}", sender_id=YANG)
    assert any(s.contact == YANG and "绑定成功" in s.text for s in sent)
    async with ubchat.repo.transaction() as tx:
        rows = await tx.fetch_all("SELECT actor, detail FROM events WHERE kind = 'bind_codes'")
    assert [r["actor"] for r in rows] == ["糜伶"] and rows[0]["detail"].endswith("127.0.0.1")
