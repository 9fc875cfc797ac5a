"""Helpers shared by handlers: the conditional status change, order card data, workers."""

from __future__ import annotations

from typing import Any

from handlers.base import Context, Reply
from handlers.commands import Need
from handlers.parse import mask_phone, redact_need_text
from handlers.privacy import public
from handlers.textutil import restore_punct
from storage.models import Order, Worker
from storage.status import Status

# User text echoed in replies is kept short, so a huge message never becomes a huge reply.
MAX_NAME = 20  # a longer "name" is not a name: the command is answered with its usage
MAX_REMARK = 100  # cancel reasons and dispatch notes
MAX_CARD_TEXT = 300  # a need on a card (the market group, queries)
MAX_DETAIL_TEXT = 800  # a need in the taker's direct message


def clip(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


async def transition(ctx: Context, order: Order, values: dict[str, Any], expect_status: tuple[Status, ...],
                     expect: dict[str, Any] | None = None) -> bool:
    """Apply ``values`` if the order is still in ``expect_status``; otherwise reply why not.

    The handler read the order earlier in its transaction; another instance may have changed
    it since (a claim on another process, a cancel).  The conditional update decides, and the
    handler announces only a change it made."""
    if await ctx.tx.update_order(order.id, values, expect_status=expect_status, expect=expect):
        return True
    fresh = await ctx.tx.get_order_by_id(order.id)
    status = fresh.status if fresh is not None else order.status
    if status in expect_status:  # same state, but another taker now
        ctx.reply("refuse", reason="not_taker", no=order.no)
    else:
        ctx.reply("refuse", reason=f"already_{status}", no=order.no)
    return False


def need_of(order: Order) -> Need:
    return Need(text=order.need_text, category=order.category, phones=order.phones, address=order.address,
                coarse_address=order.coarse_address, time_wish=order.time_wish, budget=order.budget)


def card(source: Any, order: Order) -> dict[str, Any]:
    """Order data for a market-group card: no contact data at all (no phone, not even masked; no ID
    number, no self-given name) and, unless the community shows addresses on purpose
    (``[privacy] mask_in_market = false``), no door number: 小区 + 楼栋 at most.

    ``source`` is anything with the app's ``config`` (a handler Context or the App)."""
    doors = not source.config.privacy.mask_in_market
    location = order.address if doors else order.coarse_address
    return {
        "no": order.no, "category": order.category, "grid": order.grid,
        "location": public(location, doors=doors) if location else location,
        "time_wish": order.time_wish, "budget": order.budget, "reward": order.reward,
        "note": public(order.note, doors=doors) if order.note else order.note,
        "text": clip(restore_punct(redact_need_text(order.need_text, need_of(order), doors=doors)), MAX_CARD_TEXT),
        "phone_missing": not order.phones,  # the taker cannot call: 电话待补充 (the staff add it)
    }


def details(order: Order) -> dict[str, Any]:
    """Everything the taker needs: full address and phone (direct message only)."""
    return {
        "no": order.no, "category": order.category, "grid": order.grid,
        "text": clip(order.need_text, MAX_DETAIL_TEXT),
        "address": order.address, "phones": list(order.phones), "time_wish": order.time_wish,
        "budget": order.budget, "reward": order.reward, "note": order.note, "resident": order.resident_name,
    }


def worker_public(worker: Worker | None) -> dict[str, Any] | None:
    if worker is None:
        return None
    return {"name": worker.name, "phone": mask_phone(worker.phone), "team": worker.team}


async def post_card(ctx: Context, order: Order, kind: str) -> None:
    """Post the order card to the community market group (kind: new|again|escalated)."""
    assert ctx.community is not None
    ctx.to_room(ctx.market_room(), "order_card", kind=kind, order=card(ctx, order))


def is_worker_of(worker: Worker | None, order: Order) -> bool:
    return worker is not None and order.taker_id == worker.id


async def find_worker_named(ctx: Context, name: str, worker_id: int | None = None) -> Worker | None:
    """A worker of the community by record (``worker_id``, from the dashboard), mention, wechat id,
    exact name, or an unambiguous 某师傅."""
    assert ctx.community is not None
    community = ctx.community.name
    if worker_id is not None:
        found = await ctx.tx.get_worker(worker_id)
        return found if found is not None and found.community == community else None
    for mention in ctx.msg.mentions:
        found = await ctx.tx.find_worker(community, wechat=mention)
        if found:
            return found
    found = await ctx.tx.find_worker(community, wechat=name, name=name)
    if found or not name.endswith("师傅") or len(name) < 3:
        return found
    surname = name[: -len("师傅")]
    matches = [w for w in await ctx.tx.list_workers(community) if w.name.startswith(surname)]
    return matches[0] if len(matches) == 1 else None


async def worker_refusal(ctx: Context, worker: Worker | None, order: Order, *,
                         count_active: bool = True) -> str | None:
    """Why ``worker`` may not take ``order`` (a refuse reason), or None if they may;
    ``count_active=False`` leaves the limit of active orders to the caller's conditional update."""
    if worker is None:
        return "not_registered"
    if worker.status == "pending":
        return "pending"
    if worker.status == "suspended":
        return "suspended"
    if ctx.config.dispatch.require_skill and order.category and order.category not in worker.skills:
        return "no_skill"
    if count_active and await ctx.tx.count_active(worker.id) >= ctx.config.dispatch.max_active_per_worker:
        return "too_many"
    return None


def resident_mentions(order: Order) -> tuple[str, ...]:
    """Whom to @ about ``order`` in its group: the resident who posted it, but never the stand-in
    id of a QR order (WeChat knows no such contact: the message would be addressed to nobody)."""
    return () if order.source == "qr" else (order.resident_id,)


def addressee(order: Order) -> str | None:
    """How a group message about a QR order names its resident ("扫码下单的居民", with the WeChat
    name they gave on the form); None for everyone else (they are @-mentioned instead)."""
    if order.source != "qr":
        return None
    return "qr_named" if order.resident_name else "qr"


async def announce_taken(ctx: Context, order: Order, worker: Worker, how: str) -> None:
    """Tell the market who took it, give the taker the details, tell the resident who is coming."""
    order.taker = worker
    data = dict(no=order.no, worker=worker_public(worker), seconds=order.claim_seconds, how=how,
                proxy=order.source == "proxy")
    ctx.to_room(ctx.market_room(), "taken_market", mentions=(worker.wechat,), **data)
    fallback = Reply("dm_fallback", {"no": order.no, "grid": order.grid}, room=ctx.market_room(),
                     mentions=(worker.wechat,))
    ctx.to_contact(worker.wechat, "taken_details", fallback=fallback, order=details(order), how=how)
    room = ctx.order_room(order)
    if room is not None:
        ctx.to_room(room, "taken_resident", mentions=resident_mentions(order), addressee=addressee(order),
                    resident=order.resident_name, **data)
    if order.source == "proxy":  # the staff who phoned it in pass the taker's number on: give it in full
        ctx.to_contact(order.resident_id, "taken_proxy_dm", no=order.no, worker=worker.name, phone=worker.phone)
    elif order.source == "chat" and order.resident_id in ctx.reachable and worker.phone:
        # the group saw the number masked; the resident gets it in full where only they see it
        ctx.to_contact(order.resident_id, "taken_resident_dm", no=order.no, worker=worker.name, phone=worker.phone)

