"""The WeChat-like simulator (only with the local gateway).

Pick a group or a direct chat, pick who speaks, type: the message enters the local gateway,
reaches the app through the real wechaty client, and the bot's replies come back through the
outbox and wechaty.  ``/sim/events`` streams the chat log as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from quart import Blueprint, current_app, jsonify, make_response, render_template, request

from bot.web.simhub import DIRECT, SimHub
from bot.web.state import ROLE_NAMES, state

bp = Blueprint("sim", __name__)

KEEPALIVE_SECONDS = 15
_NAME = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9_·]{2,16}$")


def hub() -> SimHub:
    h = state().hub
    assert h is not None
    return h


def people() -> list[dict[str, Any]]:
    web, h = state(), hub()
    rows = []
    for contact in h.world.contacts.values():
        role = web.role_of(contact.id)
        rows.append({"id": contact.id, "name": contact.name, "role": role, "role_name": ROLE_NAMES[role]})
    order = list(ROLE_NAMES)
    return sorted(rows, key=lambda p: order.index(p["role"]))


def conversations() -> list[dict[str, Any]]:
    web, h = state(), hub()
    market = {k for c in web.config.communities for k in c.market_groups}
    rooms = [{"id": r.id, "title": r.topic, "kind": "market" if r.topic in market else "grid",
              "members": [m for m in r.member_ids if m != h.world.bot_id]} for r in h.world.rooms.values()]
    rooms.sort(key=lambda r: r["kind"] != "market")
    direct = [{"id": DIRECT + p["id"], "title": p["name"], "kind": "direct", "role_name": p["role_name"],
               "members": [p["id"]]} for p in people()]
    return rooms + direct


def hints() -> list[dict[str, str]]:
    """The Xima loop, step by step, for the first community's first grid ({no}: the latest order)."""
    web, h = state(), hub()
    community = web.config.communities[0]
    grid = community.grids[0]
    grid_room, market = h.room_by_key(grid.groups[0]), h.room_by_key(community.market_group)
    if grid_room is None or market is None:
        return []
    resident = grid.residents[0] if grid.residents else None
    staff = grid.staff[0]
    workers = [w.wechat for w in community.workers[:2]]
    steps = []

    def step(conv: str, where: str, speaker: str, text: str, why: str) -> None:
        steps.append({"conv": conv, "where": where, "speaker": speaker, "speaker_name": h.name_of(speaker),
                      "text": text, "why": why})

    if resident:
        step(grid_room.id, grid_room.topic, resident, "需要修水管，阳光小区3栋2单元501室，今天上午，电话13908521234",
             "居民在网格群发需求，机器人回复单号")
    step(grid_room.id, grid_room.topic, staff, "派单 {no}", "网格员派单，卡片发到零工市场群（不含电话门牌）")
    for worker in workers:
        step(market.id, market.topic, worker, "接{no}", "零工抢单，先到先得")
    if workers:
        step(DIRECT + workers[0], "私聊", workers[0], "完成{no}", "师傅干完活，私聊机器人报完成")
    if resident:
        step(grid_room.id, grid_room.topic, resident, "满意{no}", "居民评价")
    step(grid_room.id, grid_room.topic, staff, "今日统计", "看今天的接单情况；也可以发「接单王」")
    return steps


@bp.get("/sim")
async def page():
    return await render_template("sim.html", bot=hub().world.bot_name, hints=hints())


@bp.get("/sim/state.json")
async def sim_state():
    h = hub()
    return jsonify({"bot": {"id": h.world.bot_id, "name": h.world.bot_name}, "people": people(),
                    "conversations": conversations(), "items": [i.as_dict() for i in h.since(0)]})


@bp.post("/sim/send")
async def send():
    h = hub()
    body = await request.get_json(silent=True) if request.is_json else await request.form
    body = body or {}
    conv, speaker, text = (str(body.get(k) or "").strip() for k in ("conv", "speaker", "text"))
    errors = {}
    room_id, contact_id = h.conversation(conv)
    if room_id is None and contact_id is None:
        errors["conv"] = "请先在左边选一个群或私聊"
    elif not h.may_speak(conv, speaker):
        errors["speaker"] = "这个人不在这个群里" if room_id else "私聊只能由这个人自己说话"
    if not text:
        errors["text"] = "请输入要发送的内容"
    elif len(text) > 2000:
        errors["text"] = "一条消息最多 2000 个字"
    if errors:
        return jsonify({"ok": False, "errors": errors}), 400
    item = await h.say(conv, speaker, text)
    return jsonify({"ok": True, "item": item.as_dict()})


@bp.post("/sim/people")
async def add_person():
    h = hub()
    body = await request.get_json(silent=True) if request.is_json else await request.form
    body = body or {}
    name, conv = str(body.get("name") or "").strip(), str(body.get("conv") or "").strip()
    room_id, _ = h.conversation(conv)
    errors = {}
    if not _NAME.match(name):
        errors["name"] = "名字 2-16 个字，只用汉字、字母或数字"
    elif name in h.world.contacts or name == h.world.bot_name:
        errors["name"] = "已经有这个人了"
    if room_id is None:
        errors["conv"] = "请选择要加入的群"
    if errors:
        return jsonify({"ok": False, "errors": errors}), 400
    h.add_person(name, room_id)
    return jsonify({"ok": True, "people": people(), "conversations": conversations()})


@bp.get("/sim/events")
async def events():
    h = hub()
    closing: asyncio.Event = current_app.extensions.setdefault("linggong_closing", asyncio.Event())
    try:
        last = int(request.headers.get("Last-Event-ID") or request.args.get("after") or 0)
    except ValueError:
        last = 0

    async def stream():
        queue = h.subscribe()
        try:
            yield b"retry: 1000\n\n"
            seen = last
            for item in h.since(last):
                yield _event(item.seq, item.as_dict())
                seen = item.seq
            while not closing.is_set():
                getter = asyncio.ensure_future(queue.get())
                closer = asyncio.ensure_future(closing.wait())
                done, _ = await asyncio.wait({getter, closer}, timeout=KEEPALIVE_SECONDS,
                                             return_when=asyncio.FIRST_COMPLETED)
                closer.cancel()
                if getter not in done:
                    getter.cancel()
                    if not done:
                        yield b": keepalive\n\n"
                    continue
                item = getter.result()
                if item is None:
                    break
                if item.seq > seen:
                    seen = item.seq
                    yield _event(item.seq, item.as_dict())
        finally:
            h.unsubscribe(queue)

    response = await make_response(stream(), {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                              "X-Accel-Buffering": "no"})
    response.timeout = None
    return response


def _event(seq: int, data: dict[str, Any]) -> bytes:
    return f"id: {seq}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
