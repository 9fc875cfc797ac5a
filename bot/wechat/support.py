"""Pure helpers for the wechaty adapter: timings, backoff, group resolution, message times.

Nothing here imports wechaty, so it is cheap to test and to reuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo


@dataclass(frozen=True)
class Timings:
    """Every interval the adapter uses, in seconds; tests pass short ones.

    The defaults bring the bot back within about ``backoff_max`` seconds of a gateway
    restart, and notice a silent (half-open) connection within ``event_deadline``.
    """

    ding_interval: float = 10.0  # how often the watchdog pings the gateway
    event_deadline: float = 30.0  # no event (or dong) for this long -> reconnect
    rpc_timeout: float = 10.0  # bound on each request the adapter makes
    connect_timeout: float = 5.0  # bound on the TCP check before each connection
    backoff_initial: float = 1.0  # first delay between reconnection attempts
    backoff_factor: float = 2.0
    backoff_max: float = 15.0  # cap on the delay between attempts
    send_ready_wait: float = 10.0  # how long a send waits for a logged-in connection
    cache_ttl: float = 300.0  # renew wechaty's contact/room payload caches this often
    shutdown_grace: float = 10.0  # how long stop() lets in-flight app calls finish


class Backoff:
    """Bounded exponential backoff: initial, initial*factor, ... capped at ``backoff_max``."""

    def __init__(self, timings: Timings) -> None:
        self.timings = timings
        self.attempt = 0

    def next_delay(self) -> float:
        t = self.timings
        delay = min(t.backoff_max, t.backoff_initial * t.backoff_factor**self.attempt)
        self.attempt += 1
        return max(0.0, delay)

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True)
class ReadyInfo:
    """What the bot knows after a (re-)login: handed to ``on_ready``."""

    self_id: str
    self_name: str
    rooms: Mapping[str, str]  # configured group key -> room id
    missing: tuple[str, ...]  # configured keys that matched no room (and were expected to)
    login_count: int  # 1 for the first login, then 2, 3, ... after each re-login
    contacts: frozenset[str] = frozenset()  # ids, names and remarks of the contacts it can message


@dataclass
class RoomResolution:
    mapping: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings worth logging


def resolve_room_keys(
    keys: Iterable[str],
    rooms: Sequence[tuple[str, str]],
    previous: Mapping[str, str] | None = None,
) -> RoomResolution:
    """Match configured group keys to rooms given as ``(room_id, topic)`` pairs.

    A key matches a room id exactly, else a topic exactly (surrounding blanks ignored).
    Several rooms with the same topic: keep the one used before, else the first (noted).
    No match but a room id used before still exists: the group was renamed; keep it (noted).
    """
    previous = previous or {}
    topics = {room_id: topic for room_id, topic in rooms}
    result = RoomResolution()
    for key in keys:
        if key in topics:
            result.mapping[key] = key
            continue
        wanted = key.strip()
        matches = [room_id for room_id, topic in rooms if (topic or "").strip() == wanted]
        before = previous.get(key)
        if len(matches) == 1:
            result.mapping[key] = matches[0]
        elif matches:
            chosen = before if before in matches else matches[0]
            result.mapping[key] = chosen
            result.notes.append(
                f"group {key!r} matches {len(matches)} rooms {matches}; using {chosen}"
            )
        elif before is not None and before in topics:
            result.mapping[key] = before
            result.notes.append(
                f"group {key!r} is now called {topics[before]!r}; still using room {before}"
            )
        else:
            result.missing.append(key)
    return result


def message_time(timestamp: float, tz: tzinfo, fallback: datetime) -> datetime:
    """An aware datetime from a puppet timestamp in seconds or milliseconds (0 -> fallback)."""
    if not timestamp or timestamp < 0:
        return fallback
    if timestamp > 100_000_000_000:  # later than 5138 in seconds: it is milliseconds
        timestamp = timestamp / 1000
    return datetime.fromtimestamp(timestamp, tz)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port`` (optionally with http://) -> (host, port); port defaults to 80."""
    rest = endpoint.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return rest.strip("[]"), 80
    return host.strip("[]"), int(port)
