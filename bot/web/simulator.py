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

from quart import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from bot.web.simhub import DIRECT, SimHub
from bot.web.security import current_staff
from bot.web.state import ROLES, state

bp = Blueprint("sim", __name__)


async def admins_only():
    """On a non-loopback address the simulator (every chat and direct message) is for a logged-in
    admin only (``bot.web.simulator_mode``); None lets the request through."""
    web, name = state(), current_staff()
    if name is None:
        return redirect(url_for("dash.login", next=request.full_path.rstrip("?")))
    contact = web.contact_of(name)
    directory = web.app.directory
    if contact and (directory.is_admin(contact) or any(directory.identities.is_community_admin(c, contact)
                                                       for c in web.config.communities)):
        return None
    msgs = web.msgs
    return await render_template("message.html", title=msgs["sim"]["admins_only_title"],
                                 message=msgs["sim"]["admins_only"]), 403

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
        rows.append({"id": contact.id, "name": contact.name, "role": role, "role_name": web.role_name(role)})
    return sorted(rows, key=lambda p: ROLES.index(p["role"]))


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
    """The Xima loop, step by step, for the first community's first grid ({no}: the latest order).

    The commands are chat grammar; the resident's need and the explanations are words from labels.toml."""
    web, h = state(), hub()
    msgs = web.msgs
    community = web.config.communities[0]
    grid = community.grids[0]
    grid_room, market = h.room_by_key(grid.groups[0]), h.room_by_key(community.market_group)
    if grid_room is None or market is None:
        return []
    resident = grid.residents[0] if grid.residents else None
    staff = grid.staff[0].wechat_id or grid.staff[0].name  # the demo binds its people in config
    workers = [w.wechat for w in community.workers[:2]]
    steps = []

    def step(conv: str, where: str, speaker: str, text: str, why: str) -> None:
        steps.append({"conv": conv, "where": where, "speaker": speaker, "speaker_name": h.name_of(speaker),
                      "text": text, "why": why})

    if resident:
        step(grid_room.id, grid_room.topic, resident, msgs["sim"]["hints"]["resident_need"],
             msgs["sim"]["hints"]["post"])
    step(grid_room.id, grid_room.topic, staff, "派单 {no}", msgs["sim"]["hints"]["dispatch"])
    for worker in workers:
        step(market.id, market.topic, worker, "接{no}", msgs["sim"]["hints"]["claim"])
    if workers:
        step(DIRECT + workers[0], msgs["sim"]["direct"], workers[0], "完成{no}", msgs["sim"]["hints"]["complete"])
    if resident:
        step(grid_room.id, grid_room.topic, resident, "满意{no}", msgs["sim"]["hints"]["rate"])
    step(grid_room.id, grid_room.topic, staff, "今日统计", msgs["sim"]["hints"]["stats"])
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
    h, msgs = hub(), state().msgs
    body = await request.get_json(silent=True) if request.is_json else await request.form
    body = body or {}
    conv, speaker, text = (str(body.get(k) or "").strip() for k in ("conv", "speaker", "text"))
    errors = {}
    room_id, contact_id = h.conversation(conv)
    if room_id is None and contact_id is None:
        errors["conv"] = msgs["sim"]["choose_conv"]
    elif not h.may_speak(conv, speaker):
        errors["speaker"] = msgs["sim"]["not_member"] if room_id else msgs["sim"]["direct_self_only"]
    if not text:
        errors["text"] = msgs["sim"]["empty_text"]
    elif len(text) > 2000:
        errors["text"] = msgs["sim"]["text_long"]
    if errors:
        return jsonify({"ok": False, "errors": errors}), 400
    item = await h.say(conv, speaker, text)
    return jsonify({"ok": True, "item": item.as_dict()})


@bp.post("/sim/people")
async def add_person():
    h, msgs = hub(), state().msgs
    body = await request.get_json(silent=True) if request.is_json else await request.form
    body = body or {}
    name, conv = str(body.get("name") or "").strip(), str(body.get("conv") or "").strip()
    room_id, _ = h.conversation(conv)
    errors = {}
    if not _NAME.match(name):
        errors["name"] = msgs["sim"]["bad_name"]
    elif name in h.world.contacts or name == h.world.bot_name:
        errors["name"] = msgs["sim"]["name_taken"]
    if room_id is None:
        errors["conv"] = msgs["sim"]["choose_room"]
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
