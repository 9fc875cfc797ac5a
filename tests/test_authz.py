"""Authorization matrix: every command x every role -> allowed, or refused with a clear reply and
no state change.

The spec comes from the README grammar table and the handlers:
- anyone in a grid group may post a need; only staff of the group's community (grid staff, the
  community's admins, the bot's admins) dispatch, assign, take back, post for others, approve
  and suspend workers;
- the resident who posted an order may cancel it until it is taken and rate it once done;
  staff may do both for any order of their community;
- only active registered workers claim, in the market group; the taker or staff complete and
  release;
- queries are open to everyone;
- anyone may ask to register, except someone already registered or suspended.

Before each command the community has: #1 posted, #2 dispatched, #3 taken by 熊明祥, #4 done by
熊明祥, #5 waiting for review (待确认; all posted by 张阿姨 in the first grid), 雷小军 suspended and 欧阳华 pending approval.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from storage.sqlite import SqliteRepository
from tests.conftest import START, Chat

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"
UNCERTAIN = "家里的灯一闪一闪的"  # the classifier is not sure: a 待确认 order

ROLES = {  # role -> who plays it (display name; the harness gives each a contact id of its own)
    "resident": "张阿姨",  # posted every order
    "neighbour": "李大爷",  # a resident of the same grid who posted none
    "unregistered": "路人甲",
    "pending": "欧阳华",  # asked to register, not approved yet
    "registered": "韩德明",  # an active worker who took none of the orders
    "taker": "熊明祥",  # the active worker who took #3 and #4
    "suspended": "雷小军",
    "staff": "杨先媚",  # first-grid staff of 洗马社区
    "other_staff": "田慧",  # staff of 茅草西社区, writing in 洗马社区's groups
    "admin": "糜伶",  # the bot's admin
}

COMMANDS = {  # command -> (room, text); {who} is the sender's name
    "post": (GRID1, "发单 楼道灯坏了，阳光小区5栋，电话13908529999"),
    "proxy": (GRID1, "代发单 李奶奶家马桶堵了，电话13908528888"),
    "bind": (None, "绑定 123456"),
    "unbind": (GRID1, "解绑 熊明祥"),
    "confirm": (GRID1, "确认5"),
    "dismiss": (GRID1, "不是5"),
    "dispatch": (GRID1, "派单1"),
    "assign": (GRID1, "指派 2 @韩德明"),
    "redispatch": (GRID1, "改派3"),
    "cancel": (GRID1, "取消2"),
    "claim": (MARKET, "接2"),
    "complete": (GRID1, "完成3"),
    "release": (GRID1, "放弃3"),
    "rate": (GRID1, "满意4"),
    "register": (MARKET, "登记 {who} 13800002222 搬家配送"),
    "approve": (GRID1, "通过 欧阳华"),
    "suspend": (GRID1, "停用 韩德明"),
    "help": (GRID1, "帮助"),
    "show": (GRID1, "查1"),
    "open": (MARKET, "待接单"),
    "mine": (GRID1, "我的订单"),
    "tally": (GRID1, "今日统计"),
    "ranking": (MARKET, "接单王"),
}

# ok: allowed (a mutating command changes the state, a query answers); anything else: refused
# with that reason (see REASONS) and nothing changes.
MATRIX = """
             resident   neighbour  unregistered  pending  registered  taker      suspended   staff  other_staff  admin
post         ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
proxy        staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
bind         bad_code   bad_code   bad_code      bad_code bad_code    bad_code   bad_code    bad_code bad_code   bad_code
unbind       staff      staff      staff         staff    staff       staff      staff       admin  staff        ok
confirm      staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
dismiss      staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
dispatch     staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
assign       staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
redispatch   staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
cancel       ok         not_yours  not_yours     not_yours not_yours  not_yours  not_yours   ok     not_yours    ok
claim        unreg      unreg      unreg         pending  ok          ok         suspended   unreg  unreg        unreg
complete     not_taker  not_taker  not_taker     not_taker not_taker  ok         not_taker   ok     not_taker    ok
release      not_taker  not_taker  not_taker     not_taker not_taker  ok         not_taker   ok     not_taker    ok
rate         ok         not_yours  not_yours     not_yours not_yours  not_yours  not_yours   ok     not_yours    ok
register     ok         ok         ok            ok       registered  registered suspended   ok     ok           ok
approve      staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
suspend      staff      staff      staff         staff    staff       staff      staff       ok     staff        ok
help         ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
show         ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
open         ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
mine         ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
tally        ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
ranking      ok         ok         ok            ok       ok          ok         ok          ok     ok           ok
"""

# Direct chats: the community comes from the sender (staff, worker record) — or is unknown.
DM_COMMANDS = {"dispatch": "派单1", "complete": "完成3", "cancel": "取消2", "approve": "通过 欧阳华", "show": "查1"}
DM_MATRIX = """
             resident      taker      staff  other_staff  admin
dispatch     staff         staff      ok     no_order     ok
complete     no_community  ok         ok     no_order     ok
cancel       no_community  not_yours  ok     no_order     ok
approve      staff         staff      ok     no_worker    ok
show         no_community  ok         ok     no_order     ok
"""

REASONS = {
    "staff": "只有本社区的网格员",
    "not_yours": "不是您发的单",
    "not_taker": "不是您接的单",
    "unreg": "还没有登记为零工",
    "pending": "还在审核中",
    "suspended": "接单资格已暂停",
    "registered": "已经登记过了",
    "no_order": "没有找到订单",
    "no_worker": "没有找到登记的零工",
    "no_community": "请在您所在的网格群",
    "bad_code": "绑定码不对或已过期",
    "admin": "只有管理员可以用",
}
QUERIES = {"help", "show", "open", "mine", "tally", "ranking"}


def parse_matrix(table: str, commands: dict) -> list[Any]:
    header, *rows = [line.split() for line in table.strip().splitlines()]
    assert all(role in ROLES for role in header)
    cases = []
    for command, *cells in rows:
        assert command in commands and len(cells) == len(header), command
        for role, cell in zip(header, cells):
            assert cell == "ok" or cell in REASONS, cell
            cases.append(pytest.param(command, role, cell, id=f"{command}-{role}"))
    return cases


def test_the_matrix_covers_every_command_and_role():
    from bot.app import build_router
    from handlers.commands import Malformed

    rows = {line.split()[0] for line in MATRIX.strip().splitlines()[1:]}
    assert rows == set(COMMANDS)
    assert MATRIX.strip().splitlines()[0].split() == list(ROLES)
    # Media (a voice note or picture) is not a text command: tests/test_media.py covers who gets what.
    routed = {cls.__name__ for cls in build_router().routes} - {Malformed.__name__, "Media"}
    assert routed == set(CLASSES.values()), "a new command needs a row in the matrix"


# -- the matrix against the route declarations ----------------------------------------------------

CLASSES = {"post": "PostNeed", "proxy": "ProxyPost", "confirm": "Confirm", "dismiss": "Dismiss", "bind": "Bind",
           "unbind": "Unbind", "dispatch": "Dispatch", "assign": "Assign",
           "redispatch": "Redispatch", "cancel": "Cancel", "claim": "Claim", "complete": "Complete",
           "release": "Release", "rate": "Rate", "register": "Register", "approve": "Approve",
           "suspend": "Suspend", "help": "Help", "show": "Show", "open": "OpenOrders", "mine": "MyOrders",
           "tally": "Tally", "ranking": "Ranking"}
ORDER_OF = {"confirm": 5, "dismiss": 5, "dispatch": 1, "assign": 2, "redispatch": 3, "cancel": 2, "complete": 3, "release": 3, "rate": 4,
            "show": 1}
# The roles each sample person holds (declared roles of handlers/base.py); TAKER only towards #3 and #4.
HOLDS = {"resident": {"poster"}, "neighbour": set(), "unregistered": set(), "pending": set(),
         "registered": {"active_worker"}, "taker": {"active_worker", "taker"}, "suspended": set(),
         "staff": {"staff"}, "other_staff": set(), "admin": {"staff"}}
# Refusals that come from the command's own rules, not from who may send it.
DOMAIN = {("register", "registered"), ("register", "taker"), ("register", "suspended"), ("unbind", "staff"),
          *(("bind", role) for role in ROLES)}  # a wrong code; unbind is the admins' among staff
DENIAL = {"staff_only": {"staff"}, "not_yours": {"not_yours"}, "not_taker": {"not_taker"}}


def declared(command: str, role: str) -> bool:
    """Whether the route of ``command`` lets ``role`` send it (from its ``who``)."""
    from bot.app import build_router
    from handlers.base import ANYONE, TAKER

    route = next(r for cls, r in build_router().routes.items() if cls.__name__ == CLASSES[command])
    holds = set(HOLDS[role])
    if TAKER in holds and ORDER_OF.get(command) not in (3, 4):
        holds.discard(TAKER)
    return ANYONE in route.who or bool(holds & route.who)


@pytest.mark.parametrize("command, role, cell", parse_matrix(MATRIX, COMMANDS))
def test_the_matrix_follows_the_route_declarations(command, role, cell):
    """The hand-written matrix (checked against behaviour below) agrees with ``ROUTES``: a change
    of a route's ``who`` that the matrix does not reflect fails here, and the other way round."""
    from bot.app import build_router

    if (command, role) in DOMAIN:
        assert cell != "ok"
        return
    allowed = declared(command, role)
    assert (cell == "ok") == allowed
    route = next(r for cls, r in build_router().routes.items() if cls.__name__ == CLASSES[command])
    if not allowed and isinstance(route.denied, str):
        assert cell in DENIAL[route.denied]


async def open_chat(config, path: Path) -> Chat:
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    repo = SqliteRepository(str(path))
    await repo.open()
    chat = Chat.wire(config, repo, clock)
    await chat.app.setup()
    return chat


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory) -> Path:
    """The community state before each command, built once; every test gets a copy."""
    from dataclasses import replace

    from bot.config import load_config
    from tests.conftest import ROOT

    base = load_config(ROOT / "config.toml")
    config = replace(base, outbox=replace(base.outbox, min_interval=0.0, per_minute=10_000))
    path = tmp_path_factory.mktemp("authz") / "seeded.db"

    async def build() -> None:
        chat = await open_chat(config, path)
        await setup_community(chat)
        await chat.app.repo.close()

    asyncio.run(build())
    return path


@pytest.fixture
async def seeded(config, seeded_db, tmp_path):
    path = tmp_path / "authz.db"
    shutil.copyfile(seeded_db, path)
    chat = await open_chat(config, path)
    chat._ids = itertools.count(10_000)  # message ids of the seeding are taken
    yield chat
    await chat.app.repo.close()


async def setup_community(chat: Chat) -> None:
    grid, market = chat.group(GRID1), chat.group(MARKET)
    for _ in range(4):
        await grid.say("张阿姨", NEED)
    await grid.say("张阿姨", UNCERTAIN)
    assert (await chat.order(5)).status == "pending_review"
    for no in (2, 3, 4):
        await grid.say("杨先媚", f"派单{no}")
    await market.say("熊明祥", "接3")
    await market.say("熊明祥", "接4")
    await market.say("熊明祥", "完成4")
    await grid.say("杨先媚", "停用 雷小军")
    await market.say("欧阳华", "登记 欧阳华 13800001111 家政护工保洁")
    chat.transport.sent.clear()


async def snapshot(chat: Chat) -> dict[str, list[tuple]]:
    db = chat.app.repo._db
    # a wrong binding code is counted (the guessing limit, handlers/identity.py) and changes nothing else
    where = {"events": " WHERE kind != 'bind_failed'"}
    return {table: [tuple(r) for r in await db.execute_fetchall(f"SELECT * FROM {table}{where.get(table, '')} ORDER BY 1")]
            for table in ("orders", "workers", "events", "bindings")}


async def check(chat: Chat, room: str | None, who: str, text: str, cell: str, query: bool) -> None:
    before = await snapshot(chat)
    sent = await chat.say(room, who, text)
    after = await snapshot(chat)
    me = chat.id(who)
    to_sender = [s for s in sent if (s.room == room and me in s.mentions) or (room is None and s.contact == me)]
    if cell == "ok":
        assert to_sender or any(s.room != room for s in sent), "an allowed command is answered"
        assert not any(phrase in s.text for s in to_sender for phrase in REASONS.values()), [s.text for s in sent]
        if query:
            assert after == before, "a query changes nothing"
        else:
            assert after != before, "an allowed command has its effect"
    else:
        assert len(sent) == 1 and sent == to_sender, [(s.room, s.contact, s.text) for s in sent]
        assert REASONS[cell] in sent[0].text, sent[0].text
        assert after == before, "a refused command changes nothing"


@pytest.mark.parametrize("command, role, cell", parse_matrix(MATRIX, COMMANDS))
async def test_group_commands(seeded, command, role, cell):
    room, text = COMMANDS[command]
    who = ROLES[role]
    await check(seeded, room, who, text.format(who=who), cell, command in QUERIES)


@pytest.mark.parametrize("command, role, cell", parse_matrix(DM_MATRIX, DM_COMMANDS))
async def test_direct_chat_commands(seeded, command, role, cell):
    await check(seeded, None, ROLES[role], DM_COMMANDS[command], cell, command == "show")


# -- regressions ---------------------------------------------------------------------------------

async def test_register_cannot_take_over_someone_elses_pending_registration(seeded):
    """Bug: ``登记`` with the name of another person's pending registration overwrote that record
    with the sender's wechat id and phone, so the staff's ``通过 欧阳华`` then approved the
    impostor's account."""
    before = await snapshot(seeded)
    sent = await seeded.say(MARKET, "路人甲", "登记 欧阳华 13800003333 搬家配送")
    assert len(sent) == 1 and "已经被别人登记" in sent[0].text and sent[0].mentions == (seeded.id("路人甲"),)
    assert await snapshot(seeded) == before
    await seeded.say(GRID1, "杨先媚", "通过 欧阳华")
    async with seeded.app.repo.transaction() as tx:
        worker = await tx.find_worker("洗马社区", name="欧阳华")
    assert (worker.wechat, worker.phone, worker.status) == (seeded.id("欧阳华"), "13800001111", "active")


async def test_register_with_an_active_workers_name_is_refused_as_taken(seeded):
    sent = await seeded.say(MARKET, "路人甲", "登记 熊明祥 13800003333 搬家配送")
    assert "已经被别人登记" in sent[0].text


async def test_pending_worker_may_correct_their_own_registration(seeded):
    await seeded.say(MARKET, "欧阳华", "登记 欧阳华 13800004444 家政护工保洁 团队 家政三队")
    async with seeded.app.repo.transaction() as tx:
        worker = await tx.find_worker("洗马社区", name="欧阳华")
    assert (worker.phone, worker.team, worker.status) == ("13800004444", "家政三队", "pending")


async def test_renaming_a_pending_registration_to_a_taken_name_is_refused(seeded):
    """Bug (found by the fuzz test): a pending worker registering again under the name of another
    worker crashed on the unique (community, name) constraint and got the error reply."""
    before = await snapshot(seeded)
    sent = await seeded.say(MARKET, "欧阳华", "登记 熊明祥 13800001111 家政护工保洁")
    assert len(sent) == 1 and "已经被别人登记" in sent[0].text
    assert await snapshot(seeded) == before
