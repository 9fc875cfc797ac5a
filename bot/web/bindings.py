"""Binding codes on the dashboard, for admins: who has bound their WeChat, and fresh one-time codes
for those who have not (the same codes as ``linggong bind``; each person sends 「绑定 123456」 to the
bot by direct message).  A community admin sees their community; the bot's admins see all.
Codes are shown once, on the page that made them (the database keeps only their hashes)."""

from __future__ import annotations

from quart import Blueprint, render_template

from bot.identity import CODE_HOURS, Entry, binding_sheet
from bot.web.security import client_key, current_staff, login_required
from bot.web.state import WebState, state

bp = Blueprint("bindings", __name__)


def admin_scope(web: WebState, name: str) -> tuple[bool, str | None]:
    """(may see the page, community or None for all) for logged-in ``name``."""
    contact = web.contact_of(name) or ""
    directory = web.app.directory
    if directory.is_admin(contact):
        return True, None
    for community in web.config.communities:
        if directory.identities.is_community_admin(community, contact):
            return True, community.name
    return False, None


async def _entries(web: WebState, community: str | None) -> list[Entry]:
    identities = web.app.directory.identities
    async with web.app.repo.transaction() as tx:
        identities.load(await tx.bindings())
        roles: dict[tuple[str, str], str] = {}
        for seat in identities.seats():
            roles.setdefault((seat.scope, seat.person.name), seat.role)
        entries = [Entry("person", scope, p.name, roles[(scope, p.name)], identities.contact_of(scope, p))
                   for scope, p in identities.people() if community is None or scope in (community, "")]
        entries += [Entry("worker", w.community, w.name, "worker", w.wechat if w.bound else None)
                    for w in await tx.list_workers(community)]
    return entries


async def _page(entries: list[Entry], made: bool, status: int = 200):
    return await render_template("bindings.html", entries=entries, made=made, hours=CODE_HOURS,
                                 waiting=sum(1 for e in entries if e.contact is None)), status


@bp.get("/dash/bindings")
@login_required
async def bindings():
    web, name = state(), current_staff()
    allowed, community = admin_scope(web, name or "")
    if not allowed:
        return await render_template("message.html", title=web.msgs["bindings"]["admins_only_title"],
                                     message=web.msgs["bindings"]["admins_only"]), 403
    return await _page(await _entries(web, community), made=False)


@bp.post("/dash/bindings/codes")
@login_required
async def make_codes():
    web, name = state(), current_staff()
    assert name is not None
    allowed, community = admin_scope(web, name)
    if not allowed:
        return await render_template("message.html", title=web.msgs["bindings"]["admins_only_title"],
                                     message=web.msgs["bindings"]["admins_only"]), 403
    now = web.now().timestamp()
    async with web.app.repo.transaction() as tx:
        entries = await binding_sheet(tx, web.app.directory.identities, now, community=community)
        await tx.add_event(None, community or "", now, name, "bind_codes",
                           f"{sum(1 for e in entries if e.code)} · {client_key()}")
    return await _page(entries, made=True)
