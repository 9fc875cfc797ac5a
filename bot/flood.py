"""Flood control: one sender posting more than ``[flood] max_per_minute`` messages within a
minute is muted.

The limit counts every text message the bot receives in a configured group or a direct chat
(chit-chat too), per sender id, over the last 60 seconds of the app's clock.  The message
that goes over the limit starts a *flood window*: it and every further message of that sender
are ignored (the app records them as processed, so nothing happens later either), and the app
sends one notice to the sender and one alert to the staff for the whole window.  The window
lasts a minute; if the sender is still over the limit when it ends (ignored messages count),
it goes on for another minute, still without new notices.  Once a window has ended, going over
the limit again starts a new window with a new notice.  Staff and admins are never muted (the
app decides who is exempt).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

WINDOW = 60.0  # seconds


class Verdict(Enum):
    OK = "ok"  # handle the message
    FLOOD = "flood"  # over the limit just now: ignore it, notify the sender and the staff
    MUTED = "muted"  # inside a flood window that was already announced: ignore it quietly


@dataclass
class _Sender:
    times: deque[float]  # arrival times of the newest max+1 messages
    muted_until: float | None = None


@dataclass
class FloodGuard:
    max_per_minute: int
    _senders: dict[str, _Sender] = field(default_factory=dict)
    _checks: int = 0

    def check(self, sender: str, now: float) -> Verdict:
        """Count one message from ``sender`` at ``now`` and say what to do with it."""
        self._checks += 1
        if self._checks % 1000 == 0:
            self._forget_idle(now)
        state = self._senders.get(sender)
        if state is None:
            state = self._senders[sender] = _Sender(deque(maxlen=self.max_per_minute + 1))
        state.times.append(now)
        over = len(state.times) > self.max_per_minute and state.times[0] > now - WINDOW
        if state.muted_until is not None:
            if now < state.muted_until:
                return Verdict.MUTED
            if over:  # still flooding when the window ends: the same window goes on
                state.muted_until = now + WINDOW
                return Verdict.MUTED
            state.muted_until = None
        if over:
            state.muted_until = now + WINDOW
            return Verdict.FLOOD
        return Verdict.OK

    def _forget_idle(self, now: float) -> None:
        """Drop senders quiet for a minute whose window (if any) is over: memory stays bounded."""
        idle = [key for key, s in self._senders.items()
                if (s.muted_until is None or s.muted_until <= now) and (not s.times or s.times[-1] <= now - WINDOW)]
        for key in idle:
            del self._senders[key]
