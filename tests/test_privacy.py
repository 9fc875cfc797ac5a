"""Privacy audit over the whole replay corpus, and masked logs.

Every recorded chat (tests/data/*.jsonl and the demo morning) is replayed; the residents' phone
numbers and door numbers are collected from the input lines automatically.  None of them may
appear in any message the bot sends (market groups, grid groups, tallies, rankings, staff
messages) or on the display board, except in the direct message to the worker who took that
order.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.config import Config, load_config
from bot.logs import setup_logging
from bot.replay import replay_file
from handlers.commands import PostNeed, ProxyPost, Register
from handlers.parse import parse_message
from handlers.textutil import find_phones
from storage import open_repository
from tests.conftest import ROOT, pid

CORPUS = sorted((ROOT / "tests" / "data").glob("*.jsonl")) + [ROOT / "bot" / "cli" / "demo_morning.jsonl"]
DOOR = re.compile(r"[0-9]+\s*单元\s*[0-9]+\s*(?:室|号)?|[0-9]{3,4}\s*室")
ROOM_NO = re.compile(r"[0-9]{3,4}")


@dataclass
class Secrets:
    """Resident phones and door numbers found in a chat, each with the orders that carry it."""

    phones: set[str] = field(default_factory=set)
    doors: set[str] = field(default_factory=set)

    def tokens(self) -> set[str]:
        rooms = {m.group(0) for door in self.doors for m in ROOM_NO.finditer(door)}
        return self.phones | self.doors | rooms


def collect(lines: list[dict], config: Config, workers: set[str]) -> Secrets:
    secrets = Secrets()
    for line in lines:
        text = line.get("text")
        if not isinstance(text, str):
            continue
        command = parse_message(text, config.categories, line.get("quote"))
        if isinstance(command, Register):
            continue  # a would-be worker's own phone
        if isinstance(command, (PostNeed, ProxyPost)):
            need = command.need
            secrets.phones |= set(need.phones)
            if need.address and need.coarse_address and need.address.startswith(need.coarse_address):
                door = need.address[len(need.coarse_address):].strip()
                if door:
                    secrets.doors.add(door)
        if line["from"] not in workers:
            secrets.phones |= {p.number for p in find_phones(text)}
            secrets.doors |= {m.group(0) for m in DOOR.finditer(text)}
    return secrets


def corpus_config(base: Config, lines: list[dict], tmp_path: Path) -> Config:
    """The demo config with the exports in tmp and roster workers' wechat ids as the chat uses them."""
    ids = {line["from"]: line["from_id"] for line in lines if "from_id" in line}
    communities = tuple(
        replace(c, schedule=replace(c.schedule, export_dir=str(tmp_path / "exports")),
                workers=tuple(replace(w, wechat=ids.get(w.name, w.wechat)) for w in c.workers))
        for c in base.communities)
    return replace(base, communities=communities)


def flat(text: str) -> str:
    """Digits written with spaces or dashes in between count as written together."""
    return re.sub(r"(?<=[0-9])[\s-]+(?=[0-9])", "", text)


def appears(token: str, text: str) -> bool:
    if token.isdigit():
        return re.search(rf"(?<![0-9]){token}(?![0-9])", flat(text)) is not None
    return token in text or token in flat(text)


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
async def test_no_resident_phone_or_door_number_leaves_the_takers_direct_message(path, tmp_path):
    lines = [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines() if raw.strip()]
    config = corpus_config(load_config(ROOT / "config.toml"), lines, tmp_path)
    workers = {w.name for c in config.communities for w in c.workers}
    workers |= {line["from"] for line in lines if isinstance(line.get("text"), str)
                and isinstance(parse_message(line["text"], config.categories), Register)}
    secrets = collect(lines, config, workers)
    assert secrets.phones, "the corpus has residents' phone numbers to look for"

    db = str(tmp_path / "audit.db")
    session, out = await replay_file(config, path, db)
    repo = await open_repository(db)
    try:
        async with repo.transaction() as tx:
            orders = await tx.find_orders()
            takers_of = {o.id: {e.detail.split()[0] for e in await tx.events_for(o.id)
                                if e.kind in ("taken", "assigned") and e.detail} for o in orders}
        out += await board_pages(config, repo, session.clock.now())
    finally:
        await repo.close()
    allowed: dict[str, set[str]] = {}  # secret -> workers whose direct messages may carry it
    for order in orders:
        carried = set(order.phones) | {d for d in secrets.tokens() if appears(d, order.address or "")}
        for token in carried:
            allowed.setdefault(token, set()).update(takers_of[order.id])

    leaks = [(token, line) for line in out for token in secrets.tokens()
             if appears(token, line["text"]) and not (line["dm"] is not None and line["dm"] in allowed.get(token, ()))]
    assert leaks == []
    carried_to_takers = [line for line in out if line["dm"] and any(appears(p, line["text"]) for p in secrets.phones)]
    if any(takers_of.values()):
        assert carried_to_takers, "the taker does get the phone (the audit is not vacuous)"


async def board_pages(config: Config, repo, now) -> list[dict]:
    """The display board (page and JSON) of every community at the end of the chat, as output lines."""
    from bot.app import App
    from bot.clock import FakeClock
    from bot.web import create_web_app

    web = create_web_app(App(config, repo, FakeClock(now, config.tz)), password="")
    client = web.test_client()
    pages = []
    for community in config.communities:
        for path in ("/board", "/board.json"):
            response = await client.get(quote(f"{path}?c={community.name}", safe="/?=&"))
            assert response.status_code == 200
            text = re.sub(r"<[^>]+>", " ", await response.get_data(as_text=True))
            if path.endswith(".json"):
                text = json.dumps(json.loads(text), ensure_ascii=False)
            assert community.name in text, "the board was rendered"
            pages.append({"room": f"board {community.name}", "dm": None, "text": text})
    return pages


# -- logs ----------------------------------------------------------------------------------------

PHONE = "13908521234"
LANDLINE = "0851-28221234"


@pytest.fixture
def project_logs():
    """The project's own log setup (bot.logs.setup_logging: its handler, format and MaskingFilter)
    at DEBUG, its stream pointed at a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging(logging.DEBUG)
    buffer = io.StringIO()
    (handler,) = root.handlers
    handler.setStream(buffer)
    try:
        yield buffer.getvalue
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def assert_masked(text: str) -> None:
    assert text, "something was logged"
    for secret in (PHONE, "2单元501室", "501室", "28221234"):
        assert secret not in flat(text), f"{secret} in log:\n{text}"


async def test_phones_and_doors_in_logs_are_masked(chat, grid1, market, project_logs):
    await grid1.say("张阿姨", f"需要修水管，阳光小区3栋2单元501室，电话{PHONE}，座机{LANDLINE}")
    await grid1.say("杨先媚", "派单1")
    await market.say("熊明祥", "接1")
    chat.transport.fail_direct.add(pid("熊明祥"))  # a failed direct message is logged with its reason
    await grid1.say("张阿姨", f"需要修空调，阳光小区3栋2单元501室，电话{PHONE}")
    await grid1.say("杨先媚", "派单2")
    await market.say("熊明祥", "接2")
    logged = project_logs()
    assert "executing" in logged, "aiosqlite's DEBUG lines (with the SQL arguments) went through the filter"
    assert_masked(logged)


async def test_phones_in_an_exception_and_its_traceback_are_masked(chat, grid1, project_logs, monkeypatch):
    """Bug: MaskingFilter masked the log message only; the traceback printed by log.exception
    carried the exception's message with the resident's phone and door number in clear."""
    from handlers import intake

    async def boom(ctx, cmd):
        raise RuntimeError(f"cannot store {cmd.need.phones[0]} at {cmd.need.address}")

    routes = chat.app.router.routes
    monkeypatch.setitem(routes, intake.PostNeed, dataclasses.replace(routes[intake.PostNeed], handler=boom))
    await grid1.say("张阿姨", f"需要修水管，阳光小区3栋2单元501室，电话{PHONE}")
    logged = project_logs()
    assert "Traceback" in logged and "RuntimeError: cannot store 139****1234" in logged
    assert_masked(logged)
