"""Clocks.  Everything that needs the time is handed a clock; nothing calls ``datetime.now()``."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    tz: tzinfo

    def now(self) -> datetime:
        """The current time, timezone-aware, in the configured zone."""


class SystemClock:
    """The real clock."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


class FakeClock:
    """A clock that only moves when told to (replay and tests)."""

    def __init__(self, start: datetime, tz: tzinfo | None = None) -> None:
        if start.tzinfo is None:
            if tz is None:
                raise ValueError("FakeClock needs an aware start time or a tz")
            start = start.replace(tzinfo=tz)
        self.tz = tz or start.tzinfo  # type: ignore[assignment]
        self._now = start.astimezone(self.tz)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        if when > self._now:
            self._now = when.astimezone(self.tz)

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now = self._now + timedelta(seconds=seconds, **kwargs)
        return self._now
