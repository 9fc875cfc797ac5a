"""Web actions are commands handed to ``app.handle``, exactly as a chat message would carry them.

A dashboard action is a command from the logged-in staff member in a direct chat with the bot
(``Dispatch(12)``), so authorisation, audit events and notifications are exactly those of the
chat.  A QR-code order is a need posted in the grid's group on the resident's behalf, recorded
with source "qr".  ``app.handle`` returns what it queued: the bot's answers to the sender are
read from there.
"""

from __future__ import annotations

import hashlib
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


async def post_qr_order(web: WebState, community: Community, grid: Grid, text: str, phone: str) -> Outcome:
    """Post the need ``text`` in the grid's group as a resident who scanned the poster's QR code."""
    room = grid.groups[0]
    # A stable id per phone that does not spell the number: it lands in logs (an @mention of an
    # id WeChat does not know is logged and dropped) and in the orders table.
    sender = "qr-" + hashlib.sha256(phone.encode()).hexdigest()[:12]
    resident_name = web.msgs["order_form"]["resident_name"]
    msg = IncomingMessage(id=_message_id("qr"), sender_id=sender, sender_name=resident_name, text=text,
                          at=web.now(), room_id=room, room_topic=room, source="qr")
    if web.hub is not None:
        web.hub.note_room(room, sender, resident_name, text, via=web.msgs["sim"]["via_qr"])
    handled = await web.app.handle(PostNeed(extract_need(text, web.config.categories), True), msg)
    return Outcome(handled.texts_to(room=room), handled.orders[0] if handled.orders else None)
