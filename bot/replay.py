"""Replay: feed a recorded chat (JSON lines) through ``app.process`` in simulated time.

Input line:  {"at": "2026-11-23 08:01:05", "room": "洗马社区第一网格群", "from": "张阿姨", "text": "…"}
  ``"dm": true`` instead of ``"room"`` for a direct chat with the bot; optional ``"from_id"``
  (defaults to the name), ``"quote"`` (quoted text), ``"id"`` (message id; default derived
  from the line), ``"mentions"`` (names or ids the sender @mentioned).
  ``{"at": "…", "advance": true}`` only moves the clock (scheduled jobs due on the way fire).
  ``{"at": "…", "restart": true}``: the bot was down since the previous line and starts again
  at this time: nothing fires in between, then the start-up catch-up runs.
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
from bot.identity import Identities
from bot.outbox import Outbox
from bot.schedule.scheduler import SimulatedScheduler, build_jobs, catch_up
from bot.transport import IncomingMessage, RecordingTransport, SentMessage
from handlers.classifier import LazyIntake
from storage import open_repository
from storage.repository import Repository

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class ReplayError(Exception):
    """A replay input line is not of the documented form; the message names the line."""


@dataclass(frozen=True)
class ReplayLine:
    lineno: int
    at: datetime
    message: IncomingMessage | None  # None for an "advance" or "restart" line
    restart: bool = False


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
        if data.get("advance") or data.get("restart"):
            parsed.append(ReplayLine(lineno, at, None, restart=bool(data.get("restart"))))
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
    for before, after in zip(parsed, parsed[1:]):
        if after.at < before.at:
            raise ReplayError(f"{source}:{after.lineno}: 'at' goes back in time (line {before.lineno} is later)")
    return parsed


class ReplaySession:
    """An app on a fake clock and a recording transport; lines are fed in time order."""

    def __init__(self, config: Config, repo: Repository, start: datetime, *, jobs: bool = True) -> None:
        self.config = config
        self.repo = repo
        self.clock = FakeClock(start, config.tz)
        self.transport = RecordingTransport(clock=self.clock)
        self.with_jobs = jobs
        self.intake = LazyIntake(config)  # trained once, when a need first comes: a restart (_boot) keeps it
        self._boot()
        self.names: dict[str, str] = {}
        for community in config.communities:
            for worker in community.workers:
                self.names[worker.wechat] = worker.name
        for seat in Identities(config).seats():  # ids in the output read as the names config gives them
            if seat.person.wechat_id:
                self.names.setdefault(seat.person.wechat_id, seat.person.name)

    def _boot(self) -> None:
        """A new bot process: a fresh app, outbox (empty in-memory pacing) and scheduler on the same database."""
        self.outbox = Outbox.for_config(self.config, self.repo, self.transport, self.clock)
        self.app = App(self.config, self.repo, self.clock, wake=self.outbox.wake, intake=self.intake)
        self.jobs = build_jobs(self.config) if self.with_jobs else []
        self.scheduler = SimulatedScheduler(self.app, self.jobs)

    async def start(self) -> None:
        await self.app.setup()
        if self.with_jobs:
            await catch_up(self.app, self.jobs)

    @classmethod
    async def open(cls, config: Config, database: str, start: datetime, *, jobs: bool = True) -> "ReplaySession":
        session = cls(config, await open_repository(database), start, jobs=jobs)
        await session.start()
        return session

    async def restart(self, at: datetime) -> None:
        """The bot was down until ``at``: move the clock without firing anything, then start again."""
        self.clock.set(at)
        self._boot()
        await self.start()

    async def close(self) -> None:
        await self.repo.close()

    async def advance_to(self, when: datetime | None) -> None:
        """Move the clock to ``when``, sending messages and firing jobs at their due times.

        ``when=None`` only drains the outbox (jobs recur forever)."""
        while True:
            send_at = await self.outbox.flush()
            job = await self.scheduler.next_due() if when is not None else None
            times = [t for t in (send_at, job[0].timestamp() if job else None) if t is not None]
            if not times or (when is not None and min(times) > when.timestamp()):
                break
            earliest = min(times)
            self.clock.set(datetime.fromtimestamp(earliest, self.config.tz))
            if job is not None and job[0].timestamp() == earliest:
                await self.scheduler.run(*job)
        if when is not None:
            self.clock.set(when)

    async def feed(self, line: ReplayLine) -> None:
        if line.restart:
            await self.restart(line.at)
            await self.outbox.flush()
            return
        await self.advance_to(line.at)
        if line.message is not None:
            self.names.setdefault(line.message.sender_id, line.message.sender_name)
            await self.app.process(line.message)
            await self.outbox.flush()

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
