"""Replay: feed a recorded chat (JSON lines) through ``app.process`` in simulated time.

Input line:  {"at": "2026-11-23 08:01:05", "room": "洗马社区第一网格群", "from": "张阿姨", "text": "…"}
  ``"dm": true`` instead of ``"room"`` for a direct chat with the bot; optional ``"from_id"``
  (defaults to the name), ``"quote"`` (quoted text), ``"id"`` (message id; default derived
  from the line), ``"mentions"`` (names or ids the sender @mentioned).
  ``{"at": "…", "advance": true}`` only moves the clock.
Output line: {"at": "…", "room": topic or null, "dm": name or null, "text": "…", "mentions": [names]}
``at`` is local time in the configured timezone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from bot.app import App
from bot.clock import FakeClock
from bot.config import Config
from bot.transport import IncomingMessage, RecordingTransport, SentMessage
from storage import open_repository
from storage.repository import Repository

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ReplayError(Exception):
    """A replay input line is not of the documented form; the message names the line."""


@dataclass(frozen=True)
class ReplayLine:
    lineno: int
    at: datetime
    message: IncomingMessage | None  # None for an "advance" line


def _parse_time(value: Any, where: str, config: Config) -> datetime:
    if not isinstance(value, str):
        raise ReplayError(f"{where}: 'at' must be a time such as \"2026-11-23 08:01:05\"")
    try:
        parsed = datetime.strptime(value.strip(), TIME_FORMAT)
    except ValueError:
        try:
            parsed = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M")
        except ValueError:
            raise ReplayError(f"{where}: 'at' must be a time such as \"2026-11-23 08:01:05\", got {value!r}") from None
    return parsed.replace(tzinfo=config.tz)


def parse_lines(lines: Iterable[str], config: Config, source: str = "chat.jsonl") -> list[ReplayLine]:
    """Validate every line first, so a bad file changes nothing."""
    parsed: list[ReplayLine] = []
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{source}:{lineno}"
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ReplayError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ReplayError(f"{where}: expected a JSON object")
        at = _parse_time(data.get("at"), where, config)
        if data.get("advance"):
            parsed.append(ReplayLine(lineno, at, None))
            continue
        for key in ("from", "text"):
            if not isinstance(data.get(key), str) or (key == "from" and not data[key].strip()):
                raise ReplayError(f"{where}: '{key}' must be a text")
        room, dm = data.get("room"), data.get("dm")
        if (room is None) == (not dm):
            raise ReplayError(f"{where}: give either \"room\": \"group name\" or \"dm\": true")
        if room is not None and not isinstance(room, str):
            raise ReplayError(f"{where}: 'room' must be a group name")
        sender_id = str(data.get("from_id") or data["from"])
        digest = hashlib.sha1(f"{lineno}:{raw.strip()}".encode()).hexdigest()[:16]
        mentions = data.get("mentions", [])
        if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
            raise ReplayError(f"{where}: 'mentions' must be a list of names")
        quote = data.get("quote")
        if quote is not None and not isinstance(quote, str):
            raise ReplayError(f"{where}: 'quote' must be a text")
        message = IncomingMessage(
            id=str(data.get("id") or f"replay:{digest}"), sender_id=sender_id, sender_name=data["from"],
            text=data["text"], at=at, room_id=room, room_topic=room, mentions=tuple(mentions), quote=quote,
        )
        parsed.append(ReplayLine(lineno, at, message))
    return parsed


class ReplaySession:
    """An app on a fake clock and a recording transport; lines are fed in time order."""

    def __init__(self, config: Config, repo: Repository, start: datetime) -> None:
        self.config = config
        self.repo = repo
        self.clock = FakeClock(start, config.tz)
        self.transport = RecordingTransport(clock=self.clock)
        self.app = App(config, repo, self.clock, self.transport)
        self.names: dict[str, str] = {}
        for community in config.communities:
            for worker in community.workers:
                self.names[worker.wechat] = worker.name

    @classmethod
    async def open(cls, config: Config, database: str, start: datetime) -> "ReplaySession":
        session = cls(config, await open_repository(database), start)
        await session.app.setup()
        return session

    async def close(self) -> None:
        await self.repo.close()

    async def advance_to(self, when: datetime | None) -> None:
        """Move the clock to ``when`` (None: until the outbox is empty), sending at due times."""
        while True:
            next_due = await self.app.outbox.flush()
            if next_due is None or (when is not None and next_due > when.timestamp()):
                break
            self.clock.set(datetime.fromtimestamp(next_due, self.config.tz))
        if when is not None:
            self.clock.set(when)

    async def feed(self, line: ReplayLine) -> None:
        await self.advance_to(line.at)
        if line.message is not None:
            self.names.setdefault(line.message.sender_id, line.message.sender_name)
            await self.app.process(line.message)
            await self.app.outbox.flush()

    def output(self, sent: SentMessage) -> dict[str, Any]:
        at = sent.at.strftime(TIME_FORMAT) if sent.at else None
        dm = self.names.get(sent.contact, sent.contact) if sent.contact is not None else None
        return {"at": at, "room": sent.room, "dm": dm, "text": sent.text,
                "mentions": [self.names.get(m, m) for m in sent.mentions]}


async def replay_file(config: Config, path: Path, database: str) -> tuple[ReplaySession, list[dict[str, Any]]]:
    """Replay a whole file; returns the (closed) session and the output lines."""
    lines = parse_lines(path.read_text(encoding="utf-8").splitlines(), config, str(path))
    if not lines:
        raise ReplayError(f"{path}: no lines to replay")
    session = await ReplaySession.open(config, database, lines[0].at)
    try:
        for line in lines:
            await session.feed(line)
        await session.advance_to(None)
        return session, [session.output(s) for s in session.transport.sent]
    finally:
        await session.close()
