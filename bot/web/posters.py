"""Printable posters with a QR code: one per grid (scan to order) and one per team (零工团队信息上墙).

The QR code is drawn as inline SVG from the ``qrcode`` package's module matrix (no PIL).
It points at the public address (``[web].public_url``, else where the server serves) + the order form of the community (and grid).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

import qrcode
from markupsafe import Markup, escape
from quart import Blueprint, render_template

from bot.web.address import is_loopback
from bot.web.state import state

bp = Blueprint("posters", __name__)


def qr_svg(data: str, label: str = "") -> Markup:
    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    n = len(matrix)
    runs = []  # one rectangle per horizontal run of dark modules: fewer edges, no hairline seams
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                runs.append(f"M{start},{y}h{x - start}v1h-{x - start}z")
            x += 1
    return Markup(
        f'<svg class="qr" viewBox="0 0 {n} {n}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label or data)}">'
        f'<rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path d="{"".join(runs)}" fill="#000" stroke="#000" stroke-width="0.04" shape-rendering="crispEdges"/>'
        f'</svg>')


def order_url(community: str, grid: str | None = None) -> str:
    url = f"{state().public_url}/order/{quote(community, safe='')}"
    return url + (f"?grid={quote(grid, safe='')}" if grid else "")


async def _teams(community: str) -> dict[str, list]:
    async with state().app.repo.reading() as tx:
        workers = [w for w in await tx.list_workers(community) if w.status == "active"]
    no_team = state().msgs["posters"]["no_team"]
    teams: dict[str, list] = {}
    for w in workers:
        teams.setdefault(w.team or no_team, []).append(w)
    return teams


def _not_found(what: str):
    msgs = state().msgs
    return render_template("message.html", title=msgs["common"]["not_found_title"],
                           message=msgs["common"]["no_such"].format(name=what))


@bp.get("/posters")
async def index():
    web = state()
    teams = {c.name: await _teams(c.name) for c in web.config.communities}
    return await render_template("posters.html", communities=web.config.communities, teams=teams,
                                 public_url=web.public_url, loopback=is_loopback(web.public_url))


@bp.get("/poster/grid/<community>/<grid>")
async def grid_poster(community: str, grid: str):
    web = state()
    found = web.config.community(community)
    g = next((x for x in found.grids if x.name == grid), None) if found else None
    if found is None or g is None:
        return await _not_found(f"{community} {grid}"), 404
    url = order_url(found.name, g.name)
    return await render_template("poster_grid.html", community=found, grid=g, url=url, url_text=unquote(url),
                                 qr=qr_svg(url, web.msgs["posters"]["qr_label"]),
                                 categories=[c.name for c in web.config.categories],
                                 teams=await _teams(found.name))


@bp.get("/poster/team/<community>/<team>")
async def team_poster(community: str, team: str):
    web = state()
    found = web.config.community(community)
    teams = await _teams(community) if found else {}
    if found is None or team not in teams:
        return await _not_found(f"{community} {team}"), 404
    members = teams[team]
    skills = list(dict.fromkeys(s for w in members for s in w.skills))
    url = order_url(found.name)
    return await render_template("poster_team.html", community=found, team=team, members=members, skills=skills,
                                 url=url, url_text=unquote(url), qr=qr_svg(url, web.msgs["posters"]["qr_label"]))
