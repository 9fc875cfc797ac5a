"""Database faults: locked -> retried, full / read-only -> a clean stop; never half an order.

Faults are injected two ways: a Tx wrapper that raises SQLite's own errors at a chosen
operation of the transaction (and at COMMIT), and real SQLite conditions (a second connection
holding the write lock, a size limit reached, a query-only connection).
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, BotStopped
from bot.clock import FakeClock
from bot.transport import IncomingMessage, RecordingTransport
from storage.sqlite import SqliteRepository
from tests.conftest import START, Chat, pid

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"

LOCKED = "database is locked"
FULL = "database or disk is full"
READONLY = "attempt to write a readonly database"


class FaultyRepository:
    """Wraps a repository; ``arm(method, error, times)`` makes the next ``times`` calls of that Tx
    method raise ``sqlite3.OperationalError(error)`` inside the real transaction."""

    def __init__(self, inner: SqliteRepository) -> None:
        self.inner = inner
        self.method: str | None = None
        self.error = ""
        self.left = 0
        self.raised = 0

    def arm(self, method: str, error: str, times: int = 1) -> None:
        self.method, self.error, self.left = method, error, times

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    @asynccontextmanager
    async def transaction(self):
        async with self.inner.transaction() as tx:
            yield FaultyTx(tx, self)


class FaultyTx:
    def __init__(self, tx: Any, repo: FaultyRepository) -> None:
        self._tx, self._repo = tx, repo

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._tx, name)
        repo = self._repo
        if name != repo.method:
            return real

        async def faulty(*args: Any, **kwargs: Any) -> Any:
            if repo.left > 0:
                repo.left -= 1
                repo.raised += 1
                raise sqlite3.OperationalError(repo.error)
            return await real(*args, **kwargs)
        return faulty


class Harness:
    def __init__(self, app: App, repo: FaultyRepository, clock: FakeClock, transport: RecordingTransport,
                 outbox: Outbox):
        self.app, self.repo, self.clock, self.transport, self.outbox = app, repo, clock, transport, outbox
        self.sleeps: list[float] = []
        self.ids = 0

    def message(self, room: str | None, who: str, text: str) -> IncomingMessage:
        self.ids += 1
        return IncomingMessage(id=f"f{self.ids}", sender_id=pid(who), sender_name=who, text=text,
                               at=self.clock.now(), room_id=room, room_topic=room)

    async def say(self, room: str | None, who: str, text: str):
        before = len(self.transport.sent)
        await self.app.process(self.message(room, who, text))
        await self.outbox.flush()
        return self.transport.sent[before:]

    async def state(self) -> dict[str, Any]:
        """Everything a message can change, straight from the tables."""
        db = self.repo.inner._db
        assert db is not None
        out = {}
        for table in ("orders", "events", "outbox", "processed", "counters", "workers"):
            out[table] = [tuple(r) for r in await db.execute_fetchall(f"SELECT * FROM {table} ORDER BY 1")]
        return out


@pytest.fixture
async def harness(config, tmp_path: Path):
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    repo = FaultyRepository(SqliteRepository(str(tmp_path / "faults.db")))
    await repo.open()
    transport = RecordingTransport(clock=clock)
    h: Harness

    async def fake_sleep(seconds: float) -> None:
        h.sleeps.append(seconds)

    chat = Chat.wire(config, repo, clock, transport, busy_retries=3, busy_delay=0.01, sleep=fake_sleep)
    await chat.app.setup()
    h = Harness(chat.app, repo, clock, transport, chat.outbox)
    yield h
    await repo.close()


async def dispatched_order(h: Harness) -> None:
    await h.say(GRID1, "张阿姨", NEED)
    await h.say(GRID1, "杨先媚", "派单1")


# Where in the message's transaction the fault strikes: every write of an intake and of a claim.
INTAKE_POINTS = ["is_processed", "next_order_no", "insert_order", "add_event", "enqueue", "mark_processed"]
CLAIM_POINTS = ["find_worker", "claim_order", "add_event", "enqueue", "mark_processed"]


@pytest.mark.parametrize("error, kind", [(FULL, "disk full"), (READONLY, "read-only")], ids=["disk-full", "read-only"])
@pytest.mark.parametrize("point", INTAKE_POINTS)
async def test_fatal_fault_during_intake_stops_cleanly_with_nothing_applied(harness, caplog, point, error, kind):
    before = await harness.state()
    harness.repo.arm(point, error)
    message = harness.message(GRID1, "张阿姨", NEED)
    with caplog.at_level(logging.WARNING), pytest.raises(BotStopped):
        await harness.app.process(message)
    assert await harness.state() == before, "the transaction rolled back: no order, no number used, nothing queued"
    assert harness.app.stopped is not None and harness.app.stop_event.is_set()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and f"database {kind}" in critical[0].getMessage()
    assert "stops taking messages" in critical[0].getMessage() and message.id in critical[0].getMessage()
    # Stopped for good: later messages are refused without touching the database.
    harness.repo.arm(point, error, times=0)
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "李大爷", NEED))
    assert await harness.state() == before


@pytest.mark.parametrize("point", CLAIM_POINTS)
async def test_fatal_fault_during_a_claim_leaves_the_order_open(harness, point):
    await dispatched_order(harness)
    before = await harness.state()
    harness.repo.arm(point, FULL)
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(MARKET, "熊明祥", "接1"))
    assert await harness.state() == before
    async with harness.repo.inner.transaction() as tx:
        order = await tx.get_order("洗马社区", 1)
    assert order.status == "dispatched" and order.taker_id is None


@pytest.mark.parametrize("point", INTAKE_POINTS)
async def test_locked_database_is_retried_and_the_message_applied_once(harness, caplog, point):
    harness.repo.arm(point, LOCKED, times=2)
    with caplog.at_level(logging.WARNING):
        sent = await harness.say(GRID1, "张阿姨", NEED)
    assert len(sent) == 1 and "#1" in sent[0].text, "one acknowledgement, order number 1 (no number lost)"
    assert harness.sleeps == [0.01, 0.02], "two retries with a growing pause"
    state = await harness.state()
    assert len(state["orders"]) == 1 and len(state["processed"]) == 1 and len(state["outbox"]) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("database locked" in w and "trying message" in w for w in warnings)
    assert harness.app.stopped is None


async def test_database_locked_for_too_long_gives_up_on_that_message_only(harness, caplog):
    harness.repo.arm("insert_order", LOCKED, times=100)
    before = await harness.state()
    with caplog.at_level(logging.WARNING):
        sent = await harness.say(GRID1, "张阿姨", NEED)
    assert sent == [] and await harness.state() == before
    assert harness.sleeps == [0.01, 0.02, 0.04] and harness.repo.raised == 4
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "gave up on message" in errors[0] and "database locked" in errors[0]
    assert harness.app.stopped is None
    harness.repo.arm("insert_order", LOCKED, times=0)
    assert (await harness.say(GRID1, "李大爷", NEED))[0].text.count("#1") == 1, "the next message works"


@pytest.mark.parametrize("error, fatal", [(LOCKED, False), (FULL, True), (READONLY, True)],
                         ids=["locked", "disk-full", "read-only"])
async def test_fault_at_commit_rolls_back(harness, monkeypatch, error, fatal):
    """COMMIT itself fails: the transaction is rolled back and the connection stays usable."""
    db = harness.repo.inner._db
    real_execute = db.execute
    failures = {"left": 1}

    def execute(sql, *args, **kwargs):
        if sql == "COMMIT" and failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError(error)
        return real_execute(sql, *args, **kwargs)

    before = await harness.state()
    monkeypatch.setattr(db, "execute", execute)
    if fatal:
        with pytest.raises(BotStopped):
            await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
        monkeypatch.setattr(db, "execute", real_execute)
        assert await harness.state() == before and not db.in_transaction
    else:
        sent = await harness.say(GRID1, "张阿姨", NEED)
        assert "#1" in sent[0].text and len((await harness.state())["orders"]) == 1


async def test_fault_while_recording_a_handler_crash_stops(harness, monkeypatch):
    from handlers import intake

    async def boom(*args, **kwargs):
        raise RuntimeError("handler bug")

    routes = harness.app.router.routes
    monkeypatch.setitem(routes, intake.PostNeed, dataclasses.replace(routes[intake.PostNeed], handler=boom))
    harness.repo.arm("mark_processed", READONLY)
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    assert await harness.state() == before


# -- real SQLite conditions --------------------------------------------------------------------

async def test_real_lock_held_by_another_connection_is_waited_out(harness, tmp_path):
    db = harness.repo.inner._db
    await db.execute("PRAGMA busy_timeout = 1")
    other = sqlite3.connect(str(tmp_path / "faults.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock

    async def release_on_first_retry(seconds: float) -> None:
        harness.sleeps.append(seconds)
        if other.in_transaction:
            other.execute("COMMIT")

    harness.app.sleep = release_on_first_retry
    try:
        sent = await harness.say(GRID1, "张阿姨", NEED)
    finally:
        other.close()
    assert harness.sleeps == [0.01] and "#1" in sent[0].text


async def test_real_disk_full_stops_with_nothing_applied(harness):
    db = harness.repo.inner._db
    await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (pages,), = await db.execute_fetchall("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {pages}")
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED + "。" + "详细情况" * 3000))
    assert harness.app.stopped.kind == "disk full"
    assert await harness.state() == before


async def test_real_read_only_database_stops_with_nothing_applied(harness):
    db = harness.repo.inner._db
    await db.execute("PRAGMA query_only = 1")
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    assert harness.app.stopped.kind == "read-only"
    assert await harness.state() == before


async def test_outbox_stops_when_it_cannot_record_a_send(harness, caplog):
    """A sent message that cannot be marked sent would be sent again and again: stop instead."""
    import asyncio

    await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    harness.repo.arm("mark_sent", FULL)
    stop = asyncio.Event()
    with caplog.at_level(logging.CRITICAL):
        await asyncio.wait_for(harness.outbox.run(stop), timeout=5)
    assert len(harness.transport.sent) == 1
    assert any("outbox stops sending" in r.getMessage() for r in caplog.records)
