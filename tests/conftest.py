"""Conversation fixtures: ``await grid1.say("张阿姨", "…")`` returns what the bot sent back."""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.config import Config, load_config
from bot.outbox import Outbox
from bot.transport import IncomingMessage, RecordingTransport, SentMessage
from handlers.classifier import Intake, Model, build_intake, training_examples
from storage.repository import Repository
from storage.sqlite import SqliteRepository

ROOT = Path(__file__).resolve().parent.parent
START = "2026-11-23 08:00:00"


@functools.cache
def _repository_model() -> Model:
    """The classifier trained on the repository's corpus, once per test session (it is
    deterministic, so every test sees the model the bot would train)."""
    return Model.train(training_examples(load_config(ROOT / "config.toml")))


def shared_intake(config: Config) -> Intake:
    """The intake of ``config`` over the session's model (a config with its own corpus trains its own)."""
    if config.intake.corpus:
        return build_intake(config)
    return build_intake(config, model=_repository_model())


@pytest.fixture
def config(tmp_path: Path) -> Config:
    base = load_config(ROOT / "config.toml")
    exports = str(tmp_path / "exports")  # the daily tally's xlsx: never into the checkout
    communities = tuple(replace(c, schedule=replace(c.schedule, export_dir=exports)) for c in base.communities)
    return replace(base, communities=communities,
                   outbox=replace(base.outbox, min_interval=0.0, per_minute=10_000))


def contact_id(name: str) -> str:
    """The contact id the harness gives someone config does not name (residents, newcomers)."""
    return "u_" + name


def people_ids(config: Config) -> dict[str, str]:
    """Display name -> contact id of everyone config names with an id: staff, admins, workers."""
    ids: dict[str, str] = {}
    for person in config.bot.admins:
        if person.wechat_id:
            ids.setdefault(person.name, person.wechat_id)
    for community in config.communities:
        for person in (*community.admins, *(p for g in community.grids for p in g.staff)):
            if person.wechat_id:
                ids.setdefault(person.name, person.wechat_id)
        for worker in community.workers:
            ids.setdefault(worker.name, worker.wechat)
    return ids


class Chat:
    """The bot (app and outbox) plus a recording transport, driven message by message on a fake clock."""

    def __init__(self, app: App, clock: FakeClock, transport: RecordingTransport, outbox: Outbox) -> None:
        self.app, self.clock, self.transport, self.outbox = app, clock, transport, outbox
        self._ids = itertools.count(1)
        self.ids = people_ids(app.config)

    def id(self, who: str) -> str:
        """The contact id of display name ``who`` in these tests (never the name itself)."""
        return self.ids.get(who) or contact_id(who)

    @classmethod
    def wire(cls, config: Config, repo: Repository, clock: FakeClock, transport: RecordingTransport | None = None,
             *, outbox: dict | None = None, **app_kw) -> "Chat":
        """An app and its outbox on ``repo``, as the runtime wires them (without WeChat)."""
        transport = transport if transport is not None else RecordingTransport(clock=clock)
        sender = Outbox.for_config(config, repo, transport, clock, **(outbox or {}))
        app_kw.setdefault("intake", shared_intake(config))
        app = App(config, repo, clock, wake=sender.wake, **app_kw)
        return cls(app, clock, transport, sender)

    @property
    def repo(self) -> Repository:
        return self.app.repo

    def message(self, room: str | None, who: str, text: str, *, quote: str | None = None,
                mentions: tuple[str, ...] = (), msg_id: str | None = None, sender_id: str | None = None,
                media: str = "") -> IncomingMessage:
        """A message from display name ``who``: contact id ``sender_id``, by default the configured
        person's id, else ``u_`` + the name (ids differ from names, as on WeChat)."""
        return IncomingMessage(id=msg_id or f"t{next(self._ids)}", sender_id=sender_id or self.id(who), sender_name=who, text=text,
                               at=self.clock.now(), room_id=room, room_topic=room, mentions=mentions, quote=quote,
                               media=media)

    async def send(self, message: IncomingMessage) -> list[SentMessage]:
        before = len(self.transport.sent)
        await self.app.process(message)
        await self.outbox.flush()
        return self.transport.sent[before:]

    async def say(self, room: str | None, who: str, text: str, **kw) -> list[SentMessage]:
        return await self.send(self.message(room, who, text, **kw))

    def group(self, key: str) -> "Group":
        return Group(self, key)

    async def orders(self):
        async with self.app.repo.transaction() as tx:
            return await tx.find_orders()

    async def order(self, no: int, community: str = "洗马社区"):
        async with self.app.repo.transaction() as tx:
            return await tx.get_order(community, no)


class Group:
    def __init__(self, chat: Chat, key: str | None) -> None:
        self.chat, self.key = chat, key

    async def say(self, who: str, text: str, **kw) -> list[SentMessage]:
        return await self.chat.say(self.key, who, text, **kw)


@pytest.fixture
async def chat(config: Config, tmp_path: Path):
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    repo = SqliteRepository(str(tmp_path / "test.db"))
    await repo.open()
    chat = Chat.wire(config, repo, clock)
    await chat.app.setup()
    yield chat
    await repo.close()


@pytest.fixture
def grid1(chat: Chat) -> Group:
    return chat.group("洗马社区第一网格群")


@pytest.fixture
def grid3(chat: Chat) -> Group:
    return chat.group("洗马社区第三网格群")


@pytest.fixture
def market(chat: Chat) -> Group:
    return chat.group("洗马社区零工市场群")


@pytest.fixture
def dm(chat: Chat) -> Group:
    return chat.group(None)


def to_room(sent: list[SentMessage], room: str) -> list[SentMessage]:
    return [s for s in sent if s.room == room]


@functools.cache
def _demo_ids() -> dict[str, str]:
    return people_ids(load_config(ROOT / "config.toml"))


def pid(name: str) -> str:
    """The contact id of display name ``name`` in the demo config, as the harness gives it."""
    return _demo_ids().get(name) or contact_id(name)


def wid(name: str) -> str:
    """The contact id of ``name`` in the local gateway's demo world (bot/gateway/config_world.py):
    configured people are their config ids; demo residents keep their names as ids."""
    return _demo_ids().get(name, name)


def to_contact(sent: list[SentMessage], contact: str) -> list[SentMessage]:
    """What went by direct message to ``contact`` (a display name of the demo, or a contact id)."""
    return [s for s in sent if s.contact in (contact, pid(contact))]
