"""Web actions go through the chat: each one is a message handed to ``app.process``.

A dashboard action is a direct message from the logged-in staff member (``派单 12``), so
authorisation, audit events and notifications are exactly those of the chat.  A QR-code order
is a ``发单 …`` posted in the grid's group on the resident's behalf, recorded with source "qr".
The bot's answers are read back from the outbox rows the message created.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from bot.config import Community, Grid
from bot.render import Renderer
from bot.transport import IncomingMessage
from bot.web.state import WebState
from storage.models import Order


@dataclass
class Outcome:
    replies: list[str]  # what the bot answered the sender (direct messages or @-replies)
    order: Order | None = None


async def _last_outbox_id(web: WebState) -> int:
    async with web.app.repo.transaction() as tx:
        rows = await tx.outbox_rows()
    return max((r["id"] for r in rows), default=0)


async def _new_rows(web: WebState, after: int) -> list[dict]:
    async with web.app.repo.transaction() as tx:
        return [r for r in await tx.outbox_rows() if r["id"] > after]


def _message_id(kind: str) -> str:
    return f"web-{kind}-{uuid.uuid4().hex}"


async def act_as_staff(web: WebState, name: str, text: str) -> Outcome:
    """Send ``text`` to the bot as a direct message from staff member ``name``."""
    before = await _last_outbox_id(web)
    msg = IncomingMessage(id=_message_id("staff"), sender_id=name, sender_name=name, text=text,
                          at=web.now())
    if web.hub is not None:
        web.hub.note_direct(name, text, via=web.msgs["sim"]["via_dashboard"])
    await web.app.process(msg)
    rows = await _new_rows(web, before)
    return Outcome([r["text"] for r in rows if r["contact"] == name])


def qr_order_text(renderer: Renderer, description: str, address: str, time_wish: str, phone: str,
                  category: str) -> str:
    """The group message a QR order becomes: templates/web/qr_intake.txt, a ``发单 …`` in the chat's
    own words.  Address and time come first so that the parser takes them from the form's own
    fields; the chosen category comes last so that it wins ties between equally long keywords."""
    return renderer.render("web/qr_intake", {"description": description, "address": address,
                                             "time_wish": time_wish, "phone": phone, "category": category})


async def post_qr_order(web: WebState, community: Community, grid: Grid, text: str, phone: str) -> Outcome:
    """Post ``text`` in the grid's group as a resident who scanned the poster's QR code."""
    room = grid.groups[0]
    # A stable id per phone that does not spell the number: it lands in logs (an @mention of an
    # id WeChat does not know is logged and dropped) and in the orders table.
    sender = "qr-" + hashlib.sha256(phone.encode()).hexdigest()[:12]
    before = await _last_outbox_id(web)
    async with web.app.repo.transaction() as tx:
        known = {o.id for o in await tx.find_orders(community.name, grid=grid.name, resident_id=sender)}
    resident_name = web.msgs["order_form"]["resident_name"]
    msg = IncomingMessage(id=_message_id("qr"), sender_id=sender, sender_name=resident_name, text=text,
                          at=web.now(), room_id=room, room_topic=room, source="qr")
    if web.hub is not None:
        web.hub.note_room(room, sender, resident_name, text, via=web.msgs["sim"]["via_qr"])
    await web.app.process(msg)
    rows = await _new_rows(web, before)
    async with web.app.repo.transaction() as tx:
        mine = await tx.find_orders(community.name, grid=grid.name, resident_id=sender)
    order = max((o for o in mine if o.id not in known), key=lambda o: o.id, default=None)
    return Outcome([r["text"] for r in rows if r["room"] == room], order)
