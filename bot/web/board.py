"""The station's display board (大屏): public, no login, and no personal data.

It shows open orders (category, grid, coarse location, time wish, waiting time), today's
counts and this month's 接单王 top 10.  The page refreshes itself from ``/board.json``, whose
fields are picked one by one in ``queries.board_data`` (no phone, door number or resident name
can reach it).
"""

from __future__ import annotations

from quart import Blueprint, jsonify, render_template, request

from bot.web.queries import board_data
from bot.web.state import state

bp = Blueprint("board", __name__)

REFRESH_SECONDS = 5


async def _data() -> tuple[dict | None, str]:
    web = state()
    wanted = request.args.get("c")
    community = web.config.community(wanted) if wanted else web.config.communities[0]
    if community is None:
        return None, wanted or ""
    async with web.app.repo.reading() as tx:
        return await board_data(tx, web, community.name), community.name


@bp.get("/board")
async def board():
    data, name = await _data()
    if data is None:
        msgs = state().msgs
        return await render_template("message.html", title=msgs["common"]["no_such_community_title"],
                                     message=msgs["common"]["no_such"].format(name=name)), 404
    refresh = request.args.get("refresh", "")
    seconds = int(refresh) if refresh.isdigit() and 1 <= int(refresh) <= 300 else REFRESH_SECONDS
    return await render_template("board.html", data=data, refresh=seconds,
                                 communities=state().config.communities)


@bp.get("/board.json")
async def board_json():
    data, name = await _data()
    if data is None:
        return jsonify({"ok": False, "errors": {"c": state().msgs["common"]["no_such_short"].format(name=name)}}), 404
    return jsonify(data)
