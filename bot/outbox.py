"""The outbox sender: delivers committed messages, paced so WeChat's risk control is not tripped.

Messages are written to the outbox table in the same transaction as the effects that caused
them, so nothing committed is lost.  This sender takes due messages, keeps a minimum interval
per conversation and a global per-minute cap, retries transient failures with backoff and
turns a failed direct message into its recorded fallback.  Time comes from the clock, so
replay and tests pace messages in simulated time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from bot.clock import Clock
from bot.config import OutboxConfig
from bot.logs import masked
from bot.transport import SendError, Transport
from storage.errors import StorageFault
from storage.models import OutMessage
from storage.repository import Repository

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, repo: Repository, transport: Transport, clock: Clock, config: OutboxConfig) -> None:
        self.repo, self.transport, self.clock, self.config = repo, transport, clock, config
        self._last: dict[str, float] = {}
        self._window: deque[float] = deque()
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    def _conversation(self, m: OutMessage) -> str:
        return f"room:{m.room}" if m.room is not None else f"dm:{m.contact}"

    def _blocked_until(self, conversation: str, now: float) -> float:
        """The earliest time a message to ``conversation`` may go out (<= now means now)."""
        ready = self._last.get(conversation, float("-inf")) + self.config.min_interval
        while self._window and self._window[0] <= now - 60:
            self._window.popleft()
        if len(self._window) >= self.config.per_minute:
            ready = max(ready, self._window[0] + 60)
        return ready

    async def flush(self) -> float | None:
        """Send every message that may go out now; return when the next one may, or None."""
        async with self._flush_lock:
            next_due: float | None = None
            while True:
                now = self.clock.now().timestamp()
                async with self.repo.transaction() as tx:
                    pending = await tx.pending_outbox(now, limit=200)
                sent_any = False
                busy: set[str] = set()
                for message in pending:
                    conversation = self._conversation(message)
                    if conversation in busy:
                        continue
                    ready = self._blocked_until(conversation, now)
                    if ready > now:
                        busy.add(conversation)
                        next_due = ready if next_due is None else min(next_due, ready)
                        continue
                    await self._send(message, now)
                    sent_any = True
                if not sent_any:
                    return next_due

    async def _send(self, m: OutMessage, now: float) -> None:
        assert m.id is not None
        conversation = self._conversation(m)
        try:
            if m.room is not None:
                await self.transport.send_room(m.room, m.text, tuple(m.mentions))
            else:
                await self.transport.send_direct(m.contact or "", m.text)
        except SendError as exc:
            await self._failed(m, now, exc.reason, exc.permanent)
            return
        except Exception as exc:  # a transport bug must not stop the outbox
            log.exception("outbox: unexpected error sending message %s", m.id)
            await self._failed(m, now, repr(exc), False)
            return
        self._last[conversation] = now
        self._window.append(now)
        async with self.repo.transaction() as tx:
            await tx.mark_sent(m.id, now)

    async def _failed(self, m: OutMessage, now: float, reason: str, permanent: bool) -> None:
        assert m.id is not None
        give_up = permanent or m.attempts + 1 >= self.config.max_attempts
        delay = min(2 ** m.attempts, 300)
        log.warning(
            "outbox: message %s to %s failed (%s), %s", m.id, masked(m.room or m.contact or ""),
            masked(reason), "giving up" if give_up else f"retrying in {delay}s",
        )
        async with self.repo.transaction() as tx:
            await tx.mark_retry(m.id, reason, now + delay, give_up=give_up)
            if give_up and m.fallback:
                fb = m.fallback
                await tx.enqueue(OutMessage(text=fb["text"], room=fb.get("room"), contact=fb.get("contact"),
                                            mentions=tuple(fb.get("mentions", ()))), now)
                await tx.add_event(None, fb.get("community", ""), now, "bot", "dm_fallback",
                                   f"outbox {m.id}: {reason}")

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver in the background until ``stop`` is set (real time)."""
        while not stop.is_set():
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
            timeout = 5.0 if next_due is None else max(0.05, next_due - self.clock.now().timestamp())
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
