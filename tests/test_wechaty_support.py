"""Unit tests for the adapter's pure helpers (no gateway, no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from bot.processed import RecentIds
from bot.transport import SendError
from bot.wechat.support import (
    Backoff,
    Timings,
    message_time,
    resolve_room_keys,
    split_endpoint,
)
from bot.wechat.transport import send_error

ROOMS = [("r1@chatroom", "城西零工群"), ("r2@chatroom", "闲聊群"), ("r3@chatroom", "闲聊群")]


def test_backoff_grows_to_its_cap_and_resets() -> None:
    backoff = Backoff(Timings(backoff_initial=1.0, backoff_factor=2.0, backoff_max=5.0))
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


@pytest.mark.parametrize(
    ("keys", "previous", "mapping", "missing", "notes"),
    [
        (["城西零工群"], {}, {"城西零工群": "r1@chatroom"}, [], 0),
        (["r2@chatroom"], {}, {"r2@chatroom": "r2@chatroom"}, [], 0),
        ([" 城西零工群 "], {}, {" 城西零工群 ": "r1@chatroom"}, [], 0),
        (["不存在"], {}, {}, ["不存在"], 0),
        # two rooms share a topic: the first, or the one used before
        (["闲聊群"], {}, {"闲聊群": "r2@chatroom"}, [], 1),
        (["闲聊群"], {"闲聊群": "r3@chatroom"}, {"闲聊群": "r3@chatroom"}, [], 1),
        # renamed group: keep the room id resolved before
        (["旧名字"], {"旧名字": "r1@chatroom"}, {"旧名字": "r1@chatroom"}, [], 1),
        # the old room is gone too
        (["旧名字"], {"旧名字": "r9@chatroom"}, {}, ["旧名字"], 0),
    ],
)
def test_resolve_room_keys(
    keys: list[str],
    previous: dict[str, str],
    mapping: dict[str, str],
    missing: list[str],
    notes: int,
) -> None:
    result = resolve_room_keys(keys, ROOMS, previous)
    assert result.mapping == mapping
    assert result.missing == missing
    assert len(result.notes) == notes


def test_recent_ids_forget_the_oldest() -> None:
    seen = RecentIds(size=2)
    for item in ("a", "b", "c"):
        seen.add(item)
    assert "a" not in seen and "b" in seen and "c" in seen


def test_message_time_accepts_seconds_and_milliseconds() -> None:
    tz = timezone(timedelta(hours=8))
    fallback = datetime(2026, 1, 1, tzinfo=tz)
    at = message_time(1_700_000_000, tz, fallback)
    assert at == message_time(1_700_000_000_000, tz, fallback)
    assert at.tzinfo is tz and at.hour == 6
    assert message_time(0, tz, fallback) is fallback


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("127.0.0.1:8788", ("127.0.0.1", 8788)),
        ("http://gateway.local:9001", ("gateway.local", 9001)),
        ("[::1]:8788", ("::1", 8788)),
        ("gateway", ("gateway", 80)),
    ],
)
def test_split_endpoint(endpoint: str, expected: tuple[str, int]) -> None:
    assert split_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    ("exc", "permanent"),
    [
        (GRPCError(Status.NOT_FOUND, "no such room"), True),
        (GRPCError(Status.FAILED_PRECONDITION, "not a friend"), True),
        (GRPCError(Status.UNAVAILABLE, "try later"), False),
        (GRPCError(Status.DEADLINE_EXCEEDED), False),
        (StreamTerminatedError("Connection lost"), False),
        (TimeoutError(), False),
        (ConnectionRefusedError(111, "refused"), False),
    ],
)
def test_send_error_is_permanent_only_for_refusals(exc: BaseException, permanent: bool) -> None:
    error = send_error(exc)
    assert isinstance(error, SendError)
    assert error.permanent is permanent
    assert error.reason
