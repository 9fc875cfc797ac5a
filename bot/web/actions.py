"""Web actions are commands handed to ``app.handle``, exactly as a chat message would carry them.

A dashboard action is a command from the logged-in staff member in a direct chat with the bot
(``Dispatch(12)``), so authorisation, audit events and notifications are exactly those of the
chat.  A QR-code order is a need posted in the grid's group on the resident's behalf, recorded
with source "qr".  ``app.handle`` returns what it queued: the bot's answers to the sender are
read from there.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from bot.app import Handled
from bot.config import Community, Grid
from bot.render import Renderer
from bot.transport import IncomingMessage
from bot.web.state import WebState
from handlers.commands import Command, PostNeed
from handlers.parse import extract_need
from handlers.privacy import mask
from storage.models import Order


@dataclass
class Outcome:
    replies: list[str]  # what the bot answered the sender (direct messages or @-replies)
    order: Order | None = None
    token: str = ""  # a QR order's status page (bot/web/qrstatus.py)


def _message_id(kind: str) -> str:
    return f"web-{kind}-{uuid.uuid4().hex}"


async def act_as_staff(web: WebState, name: str, command: Command, note: dict[str, Any]) -> Outcome:
    """Have staff member ``name`` give ``command`` to the bot as in a direct chat.  ``note``: the
    action as templates/web/action_note.txt shows it in the simulator."""
    text = web.app.renderer.render("web/action_note", note)
    contact = web.contact_of(name) or ""  # login admits bound people only; "" is nobody
    msg = IncomingMessage(id=_message_id("staff"), sender_id=contact, sender_name=name, text=text, at=web.now())
    if web.hub is not None:
        web.hub.note_direct(contact, text, via=web.msgs["sim"]["via_dashboard"])
    handled: Handled = await web.app.handle(command, msg)
    await audit_web_action(web, name, text)
    return Outcome(handled.texts_to(contact=contact))


async def audit_web_action(web: WebState, name: str, what: str) -> None:
    """Who did what from where: the chat's own audit events say who and what; this one adds the
    dashboard and the client's address (behind a reverse proxy: the proxy's)."""
    from bot.web.security import client_key

    community = web.acting_community(name)
    async with web.app.repo.transaction() as tx:
        await tx.add_event(None, community.name if community else "", web.now().timestamp(), name, "web_action",
                           f"{mask(what)} · {client_key()}")


def qr_order_text(renderer: Renderer, description: str, address: str, time_wish: str, phone: str,
                  category: str) -> str:
    """The group message a QR order stands for: templates/web/qr_intake.txt, a ``发单 …`` in the chat's
    own words.  Address and time come first so that the need's details are taken from the form's own
    fields; the chosen category comes last so that it wins ties between equally long keywords."""
    return renderer.render("web/qr_intake", {"description": description, "address": address,
                                             "time_wish": time_wish, "phone": phone, "category": category})


async def post_qr_order(web: WebState, community: Community, grid: Grid, text: str, phone: str,
                        wechat_name: str = "") -> Outcome:
    """Post the need ``text`` in the grid's group as a resident who scanned the poster's QR code
    (``wechat_name``: how they are called in that group, if they said; group messages about the
    order name them so, since the bot cannot @ a resident it knows no contact of), and give the
    order a status page."""
    room = grid.groups[0]
    # A stable id per phone that does not spell the number: it lands in the orders table, and is
    # never @-mentioned (handlers.common.resident_mentions).
    sender = "qr-" + hashlib.sha256(phone.encode()).hexdigest()[:12]
    shown = wechat_name or web.msgs["order_form"]["resident_name"]
    msg = IncomingMessage(id=_message_id("qr"), sender_id=sender, sender_name=wechat_name, text=text,
                          at=web.now(), room_id=room, room_topic=room, source="qr")
    if web.hub is not None:
        web.hub.note_room(room, sender, shown, text, via=web.msgs["sim"]["via_qr"])
    handled = await web.app.handle(PostNeed(extract_need(text, web.config.categories), True), msg)
    order = handled.orders[0] if handled.orders else None
    token = await issue_status_token(web, order) if order is not None else ""
    return Outcome(handled.texts_to(room=room), order, token)


STATUS_KEY = "qr_status:"  # meta key prefix: the token of a QR order's status page -> its order


async def issue_status_token(web: WebState, order: Order) -> str:
    """An unguessable token for ``order``'s status page (only its hash is kept)."""
    token = secrets.token_urlsafe(18)
    async with web.app.repo.transaction() as tx:
        await tx.set_meta(STATUS_KEY + token_hash(token), json.dumps({"community": order.community, "no": order.no}))
    return token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def order_of_token(web: WebState, token: str) -> Order | None:
    if not token or len(token) > 64:
        return None
    async with web.app.repo.reading() as tx:
        found = await tx.get_meta(STATUS_KEY + token_hash(token))
        if found is None:
            return None
        ref = json.loads(found)
        return await tx.get_order(ref["community"], int(ref["no"]))


async def act_as_qr_resident(web: WebState, order: Order, command: Command) -> Outcome:
    """``command`` (cancel, rate) from the resident of a QR order, in the order's group, with the
    same permission checks as a chat message: they are its poster."""
    room = order.origin_room
    msg = IncomingMessage(id=_message_id("qr-status"), sender_id=order.resident_id,
                          sender_name=order.resident_name, text="", at=web.now(), room_id=room, room_topic=room,
                          source="qr")
    handled = await web.app.handle(command, msg)
    return Outcome(handled.texts_to(room=room), order)
