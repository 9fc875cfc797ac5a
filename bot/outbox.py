"""The outbox sender: delivers committed messages, paced so WeChat's risk control is not tripped.

It is the one pacer: a minimum interval per conversation (``[outbox].min_interval``), a minimum
gap between any two sends of the account (``[wechat].send_interval``, ``send_gap`` here) and a
global per-minute cap (``[outbox].per_minute``).

Messages are written to the outbox table in the same transaction as the effects that caused
them, so nothing committed is lost.  This sender takes due messages, keeps a minimum interval
per conversation and a global per-minute cap, retries transient failures with backoff and
turns a failed direct message into its recorded fallback.  Time comes from the clock, so
replay and tests pace messages in simulated time.

Several bot instances (one per WeChat account) may share the outbox table.  Each sender claims
a message before sending it (``Tx.claim_outbox``: one conditional update with a lease), and
claims only messages for conversations its account reaches (``reach``: the instance's ``Scope``,
with the groups resolved at login and the contacts it knows; None means any, for a deployment
with one instance).  A
message claimed by an instance that died is sent by another once the lease has run out.
Pacing is per sender (per WeChat account, which is what risk control counts).

A transport that is not connected (``NotConnected``) pauses the sender without counting an
attempt, and gives the claimed message back: replies committed during an outage wait for the
reconnection (or for another instance) instead of failing.

A message is never sent twice where the network can say what it has.  The claim that takes a
message to send it also commits it as *in doubt* (``sending_since``, the time the send began,
on the claimed row); the mark is cleared in the transaction that marks the message sent, or
when the send certainly failed.  So a delivered reply costs two transactions: the claim and
the mark.  While a message is in doubt this sender sends nothing else.  So after
a crash between a send and its ``mark_sent``, or a failed call whose request may have reached
the network (a timeout), there is exactly one message whose fate is unknown, and the sender
settles it before anything else: it asks the transport (``DeliveryCheck.find_sent``) whether
that message went out since the send began.  The local gateway answers; real WeChat gateways
cannot, so there the message is sent again (at least once), with a warning and a
``send_unconfirmed`` audit event.  An instance that dies with a message in doubt leaves it to
the others once its claim's lease runs out: sent again, at least once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

from bot.clock import Clock
from bot.config import Config, OutboxConfig
from bot.instance import Scope, process_id
from bot.logs import masked
from bot.transport import DeliveryCheck, NotConnected, SendError, Transport
from storage.errors import StorageFault
from storage.models import Conversations, OutMessage
from storage.repository import Repository, Tx

log = logging.getLogger(__name__)


OFFLINE_RETRY = 1.0  # seconds the sender waits after the transport reported it is not connected
SEND_SHARE_OF_LEASE = 0.75  # a send still running after this part of its lease is abandoned (retried)
IN_DOUBT = "outbox.in_doubt"  # meta key where versions before migration 011 kept the message in doubt
_UNREAD: Any = object()  # the in-doubt entry has not been read from the database yet

Conversation = tuple[str, str]  # ("room", group key) or ("dm", contact)


class Outbox:
    """``dm_fallback``: "market" sends a failed direct message's fallback (usually an @mention in
    the market group); "none" only records the failure."""

    def __init__(self, repo: Repository, transport: Transport, clock: Clock, config: OutboxConfig,
                 *, dm_fallback: str = "market", instance: str | None = None, reach: Scope | None = None,
                 send_gap: float = 0.0) -> None:
        self.repo, self.transport, self.clock, self.config = repo, transport, clock, config
        self.dm_fallback = dm_fallback
        self.instance = instance or process_id()  # claimed_by on the messages this sender claims
        self.scope = reach  # whose reach limits the sends (instances sharing a database); None: anything
        self.send_gap = send_gap  # seconds between any two sends
        self._last_send = float("-inf")
        self._last: dict[Conversation, float] = {}
        self._window: deque[float] = deque()
        self._offline_until = float("-inf")
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._in_doubt: dict[str, Any] | None = _UNREAD  # mirrors the in-doubt row (sending_since)
        self.confirmed = 0  # messages in doubt found delivered, so not sent again
        self.resent = 0  # messages in doubt the transport could not check, so sent again

    @classmethod
    def for_config(cls, config: Config, repo: Repository, transport: Transport, clock: Clock, **kw: Any) -> Outbox:
        """An outbox with ``[outbox]`` and ``[wechat].dm_fallback`` of ``config``."""
        return cls(repo, transport, clock, config.outbox, dm_fallback=config.wechat.dm_fallback, **kw)

    def wake(self) -> None:
        self._wake.set()

    @property
    def reach(self) -> Conversations | None:
        """What this WeChat account reaches now; None: anything (a deployment with one instance)."""
        return None if self.scope is None else self.scope.conversations()

    @property
    def _doubt_key(self) -> str:
        """The old meta entry: the single instance's, or this instance's on a shared database."""
        return IN_DOUBT if self.scope is None else f"{IN_DOUBT}:{self.instance}"

    def _conversation(self, m: OutMessage) -> Conversation:
        return ("room", m.room) if m.room is not None else ("dm", m.contact or "")

    def _paced(self, now: float) -> dict[Conversation, float]:
        """Conversations whose minimum interval has not passed yet, with when it will have."""
        interval = self.config.min_interval
        return {c: t + interval for c, t in self._last.items() if t + interval > now}

    def _capped_until(self, now: float) -> float:
        """When the global per-minute cap lets the next message go (<= now means now)."""
        while self._window and self._window[0] <= now - 60:
            self._window.popleft()
        if len(self._window) >= self.config.per_minute:
            return self._window[0] + 60
        return now

    async def flush(self) -> float | None:
        """Send every message that may go out now; return when the next one may, or None."""
        async with self._flush_lock:
            if not await self._settle_in_doubt():
                return self._offline_until
            while True:
                now = self.clock.now().timestamp()
                if self._offline_until > now:
                    return self._offline_until
                capped = max(self._capped_until(now), self._last_send + self.send_gap)
                if capped > now:
                    return capped
                paced = self._paced(now)
                skip = Conversations(rooms=frozenset(k for kind, k in paced if kind == "room"),
                                     contacts=frozenset(k for kind, k in paced if kind == "dm"))
                reach = self.reach
                orphans = now - self.config.orphan_after if reach is not None else None
                async with self.repo.transaction() as tx:
                    claimed = await tx.claim_outbox(self.instance, now, self.config.lease, reach,
                                                    skip=skip if paced else None, orphans_due_before=orphans,
                                                    sending=True)
                    # with other instances about: look again when one of their claims runs out
                    # (a dead instance's messages go out then, not at the next idle poll)
                    claims_end = (await tx.outbox_claims_end(now, self.instance)
                                  if not claimed and reach is not None else None)
                if not claimed:
                    times = [*paced.values(), *([claims_end] if claims_end is not None else [])]
                    return min(times) if times else None
                if not await self._send(claimed[0], now) or not await self._settle_in_doubt():
                    return self._offline_until

    async def _send(self, m: OutMessage, now: float) -> bool:
        """Send one message claimed with ``sending=True`` (committed as in doubt); False if the
        transport is not connected (nothing was attempted)."""
        assert m.id is not None
        conversation = self._conversation(m)
        text, mentions = m.to_send()
        self._in_doubt = _doubt(m)
        try:
            # Finish well inside the lease, so no other instance takes the message while this
            # send may still go through.
            async with asyncio.timeout(self.config.lease * SEND_SHARE_OF_LEASE):
                if m.room is not None:
                    await self.transport.send_room(m.room, text, mentions)
                else:
                    await self.transport.send_direct(m.contact or "", text)
        except NotConnected as exc:  # nothing was attempted
            self._went_offline(exc, m.id)
            async with self.repo.transaction() as tx:
                await tx.release_outbox(m.id, self.instance)
            self._in_doubt = None
            return False
        except SendError as exc:
            # Refused (permanent): it did not go out.  Otherwise it may have (a timeout after the
            # gateway took it): it stays in doubt, and flush settles it before sending anything else.
            await self._failed(m, now, exc.reason, exc.permanent, settled=exc.permanent)
            return True
        except TimeoutError:
            await self._failed(m, now, f"send took longer than {self.config.lease * SEND_SHARE_OF_LEASE:.0f}s",
                               False, settled=False)
            return True
        except Exception as exc:  # a transport bug must not stop the outbox
            log.exception("outbox: unexpected error sending message %s", m.id)
            await self._failed(m, now, repr(exc), False, settled=False)
            return True
        # Pace from when the send completed, so the gap seen by the network is never shorter
        # than min_interval, however long the sends before it in this round took.
        done = self._record_send(conversation, now)
        async with self.repo.transaction() as tx:
            await tx.mark_sent(m.id, done)  # and no longer in doubt
        self._in_doubt = None
        return True

    def _record_send(self, conversation: Conversation, now: float) -> float:
        done = max(now, self.clock.now().timestamp())
        self._last[conversation] = done
        self._last_send = done
        self._window.append(done)
        return done

    def _went_offline(self, exc: NotConnected, message_id: int | None) -> None:
        self._offline_until = self.clock.now().timestamp() + OFFLINE_RETRY
        log.info("outbox: %s; message %s waits for the connection", exc.reason, message_id)

    async def _settle_in_doubt(self) -> bool:
        """Find out whether the message in doubt (if any) went out; False if not connected.

        Delivered: it is marked sent.  Not delivered: it stays pending and is sent in turn.
        Cannot tell: the same, with a warning and a ``send_unconfirmed`` audit event."""
        if self._in_doubt is _UNREAD:  # the first flush after a start: left by the previous run?
            async with self.repo.reading() as tx:
                row = await tx.outbox_in_doubt(self.instance)
                legacy = await tx.get_meta(self._doubt_key)  # kept there before migration 011
            if legacy:
                async with self.repo.transaction() as tx:
                    await tx.set_meta(self._doubt_key, "")
            self._in_doubt = _doubt(row) if row is not None else json.loads(legacy) if legacy else None
        doubt = self._in_doubt
        if doubt is None:
            return True
        where = masked(doubt["room"] or doubt["contact"] or "")
        delivered: bool | None = None
        if isinstance(self.transport, DeliveryCheck):
            try:
                delivered = await self.transport.find_sent(doubt["room"], doubt["contact"], doubt["text"],
                                                           tuple(doubt["mentions"]), doubt["since"])
            except NotConnected as exc:
                self._went_offline(exc, doubt["id"])
                return False
            except SendError as exc:
                log.warning("outbox: cannot check whether message %s to %s went out: %s", doubt["id"], where,
                            masked(exc.reason))
        now = self.clock.now().timestamp()
        async with self.repo.transaction() as tx:
            if delivered:
                conversation = ("room", doubt["room"]) if doubt["room"] is not None else ("dm", doubt["contact"])
                await tx.mark_sent(doubt["id"], self._record_send(conversation, now))
            else:
                if delivered is None:
                    await tx.add_event(None, "", now, "bot", "send_unconfirmed",
                                       f"outbox {doubt['id']} to {where}: may have gone out; sent again")
                await tx.settle_sending(doubt["id"])
        self._in_doubt = None
        if delivered:
            self.confirmed += 1
            log.info("outbox: message %s to %s had gone out; marked sent, not sent again", doubt["id"], where)
        elif delivered is None:
            self.resent += 1
            log.warning("outbox: message %s to %s may have gone out and the gateway cannot tell; it will be "
                        "sent again and may arrive twice", doubt["id"], where)
        else:
            log.info("outbox: message %s to %s had not gone out; it will be sent", doubt["id"], where)
        return True

    async def _failed(self, m: OutMessage, now: float, reason: str, permanent: bool, *, settled: bool) -> None:
        """Count a failed attempt; ``settled``: it certainly did not go out (no longer in doubt)."""
        assert m.id is not None
        give_up = permanent or m.attempts + 1 >= self.config.max_attempts
        delay = min(2 ** m.attempts, 300)
        log.warning(
            "outbox: message %s to %s failed (%s), %s", m.id, masked(m.room or m.contact or ""),
            masked(reason), "giving up" if give_up else f"retrying in {delay}s",
        )
        async with self.repo.transaction() as tx:
            await tx.mark_retry(m.id, reason, now + delay, give_up=give_up, settled=settled)
            if give_up:
                await self._undeliverable(tx, m, now, reason)
        if settled:
            self._in_doubt = None

    async def _undeliverable(self, tx: Tx, m: OutMessage, now: float, reason: str) -> None:
        """Record a message given up on, and enqueue its fallback if there is one."""
        fb = m.fallback or {}
        community = fb.get("community", "")
        order = f" (order #{fb['order_no']})" if fb.get("order_no") is not None else ""
        detail = f"outbox {m.id} to {masked(m.contact or m.room or '')}{order}: {masked(reason)}"
        if m.fallback and self.dm_fallback == "market":
            await tx.enqueue(OutMessage(text=fb["text"], room=fb.get("room"), contact=fb.get("contact"),
                                        mentions=tuple(fb.get("mentions", ()))), now)
            await tx.add_event(None, community, now, "bot", "dm_fallback", detail)
            log.warning("outbox: message %s undeliverable; fallback sent to %s", m.id, fb.get("room"))
        else:
            await tx.add_event(None, community, now, "bot", "send_failed", detail)
            log.error("outbox: message %s to %s undeliverable (%s); recorded as failed", m.id,
                      masked(m.room or m.contact or ""), masked(reason))

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver in the background until ``stop`` is set (real time)."""
        while not stop.is_set():
            # Clear before flushing: a wake() that arrives during the flush (a reply committed
            # after the flush last looked, or stop) must end the wait below at once.
            self._wake.clear()
            try:
                next_due = await self.flush()
            except StorageFault as exc:
                if exc.fatal:  # a sent message could not be marked sent: stop rather than send it again
                    log.critical("outbox: %s; the outbox stops sending", exc.describe())
                    return
                log.warning("outbox: %s; retrying in 5 s", exc.describe())
                next_due = self.clock.now().timestamp() + 5
            except Exception:
                log.exception("outbox: flush failed; retrying in 5 s")
                next_due = self.clock.now().timestamp() + 5
            if stop.is_set():
                break
            timeout = 5.0 if next_due is None else max(0.05, next_due - self.clock.now().timestamp())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass


def _doubt(m: OutMessage) -> dict[str, Any]:
    """What settling a message in doubt needs: where it went, what went out, when the send began."""
    text, mentions = m.to_send()
    return {"id": m.id, "room": m.room, "contact": m.contact, "text": text, "mentions": list(mentions),
            "since": m.sending_since}
