"""Database faults: locked -> retried, full / read-only -> a clean stop; never half an order.

The tests of the app's reaction run on both backends (the ``harness`` fixture): SQLite, and
PostgreSQL at ``$LINGGONG_TEST_PG_URL`` (skipped without it, failing under ``CI=true``, as in
tests/test_storage.py; each test gets a fresh schema).  Faults are injected two ways: a Tx
wrapper that raises the driver's own errors at a chosen operation of the transaction (and at
COMMIT): ``sqlite3.OperationalError`` with SQLite's messages, or asyncpg's exception of the
right SQLSTATE, so what is tested is each backend's mapping to ``storage.errors``; and real
conditions: for SQLite a second connection holding the write lock, a size limit reached, a
query-only connection; for PostgreSQL a second connection holding a lock past lock_timeout, a
serialization failure under REPEATABLE READ, a read-only session, a connection killed mid-way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.exceptions as pgerr
import pytest

from bot.app import App, BotStopped
from bot.clock import FakeClock
from bot.outbox import Outbox
from bot.transport import IncomingMessage, RecordingTransport
from storage.errors import (
    StorageBroken,
    StorageBusy,
    StorageFault,
    StorageFull,
    StorageReadOnly,
)
from storage.postgres import PostgresRepository, as_fault
from storage.sqlite import SqliteRepository
from tests.conftest import START, Chat, pid
from tests.test_storage import PG_URL_ENV, pg_schema, pg_url  # noqa: F401  (pg_url: fixture)

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"
TABLES = ("orders", "events", "outbox", "processed", "counters", "workers")

LOCKED = "database is locked"
FULL = "database or disk is full"
READONLY = "attempt to write a readonly database"

# The driver errors each backend's faults arrive as: fault name -> a new exception each call.
SQLITE_ERRORS: dict[str, Callable[[], Exception]] = {
    "locked": lambda: sqlite3.OperationalError(LOCKED),
    "full": lambda: sqlite3.OperationalError(FULL),
    "read-only": lambda: sqlite3.OperationalError(READONLY),
}


def _taking_turns(*makers: Callable[[], Exception]) -> Callable[[], Exception]:
    turns = itertools.cycle(makers)
    return lambda: next(turns)()


POSTGRES_ERRORS: dict[str, Callable[[], Exception]] = {
    # PostgreSQL has three ways of saying "locked"; a retried message meets them in turn
    "locked": _taking_turns(lambda: pgerr.SerializationError("could not serialize access due to concurrent update"),
                            lambda: pgerr.DeadlockDetectedError("deadlock detected"),
                            lambda: pgerr.LockNotAvailableError("canceling statement due to lock timeout")),
    "full": lambda: pgerr.DiskFullError('could not extend file "base/16384/16385": No space left on device'),
    "read-only": lambda: pgerr.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
}


class FaultyRepository:
    """Wraps a repository; ``arm(method, fault, times)`` makes the next ``times`` calls of that Tx
    method raise the backend's driver error for ``fault`` inside the real transaction, and
    ``before(method, action)`` runs ``await action(tx)`` (tx: the real one) before the next call."""

    def __init__(self, inner: SqliteRepository | PostgresRepository, errors: dict[str, Callable[[], Exception]]):
        self.inner = inner
        self.errors = errors
        self.method: str | None = None
        self.fault = ""
        self.left = 0
        self.raised = 0
        self.hooks: dict[str, Callable[[Any], Awaitable[None]]] = {}

    def arm(self, method: str, fault: str, times: int = 1) -> None:
        self.method, self.fault, self.left = method, fault, times

    def before(self, method: str, action: Callable[[Any], Awaitable[None]]) -> None:
        self.hooks[method] = action

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    @property
    def stats(self):
        return self.inner.stats

    @asynccontextmanager
    async def transaction(self):
        async with self.inner.transaction() as tx:
            yield FaultyTx(tx, self)

    @asynccontextmanager
    async def reading(self):
        async with self.inner.reading() as tx:
            yield FaultyTx(tx, self)


class FaultyTx:
    def __init__(self, tx: Any, repo: FaultyRepository) -> None:
        self._tx, self._repo = tx, repo

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._tx, name)
        repo = self._repo
        if name != repo.method and name not in repo.hooks:
            return real

        async def faulty(*args: Any, **kwargs: Any) -> Any:
            if (hook := repo.hooks.pop(name, None)) is not None:
                await hook(self._tx)
            if name == repo.method and repo.left > 0:
                repo.left -= 1
                repo.raised += 1
                raise repo.errors[repo.fault]()
            return await real(*args, **kwargs)
        return faulty


class Harness:
    def __init__(self, app: App, repo: FaultyRepository, clock: FakeClock, transport: RecordingTransport,
                 outbox: Outbox, backend: str):
        self.app, self.repo, self.clock, self.transport, self.outbox = app, repo, clock, transport, outbox
        self.backend = backend
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
        """Everything a message can change, straight from the tables (committed rows only)."""
        out = {}
        if isinstance(self.repo.inner, SqliteRepository):
            db = self.repo.inner._db
            assert db is not None
            for table in TABLES:
                out[table] = [tuple(r) for r in await db.execute_fetchall(f"SELECT * FROM {table} ORDER BY 1")]
            return out
        async with self.pg_connection() as conn:
            for table in TABLES:
                out[table] = [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")]
        return out

    @asynccontextmanager
    async def pg_connection(self):
        """A connection of its own to the repository's schema (another session)."""
        inner = self.repo.inner
        assert isinstance(inner, PostgresRepository)
        conn = await asyncpg.connect(inner.url, server_settings=inner.server_settings)
        try:
            yield conn
        finally:
            await conn.close()

    async def reconnect(self, **settings: str) -> None:
        """PostgreSQL: the same schema, through connections opened with ``settings`` as well (what
        ``ALTER DATABASE ... SET`` or a standby would do to every session)."""
        inner = self.repo.inner
        assert isinstance(inner, PostgresRepository) and inner._pool is not None
        await inner._pool.close()
        inner.server_settings.update(settings)
        inner._pool = await asyncpg.create_pool(inner.url, min_size=inner.min_size, max_size=inner.max_size,
                                                server_settings=inner.server_settings)


@asynccontextmanager
async def _backend(request, name: str, tmp_path: Path):
    if name == "sqlite":
        yield FaultyRepository(SqliteRepository(str(tmp_path / "faults.db")), SQLITE_ERRORS)
        return
    url = request.getfixturevalue("pg_url")
    async with pg_schema(url) as settings:
        yield FaultyRepository(PostgresRepository(url, server_settings=settings, max_size=4), POSTGRES_ERRORS)


async def _harness(request, config, tmp_path: Path, backend: str):
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    async with _backend(request, backend, tmp_path) as repo:
        await repo.open()
        transport = RecordingTransport(clock=clock)
        h: Harness

        async def fake_sleep(seconds: float) -> None:
            h.sleeps.append(seconds)

        try:
            chat = Chat.wire(config, repo, clock, transport, busy_retries=3, busy_delay=0.01, sleep=fake_sleep)
            await chat.app.setup()
            h = Harness(chat.app, repo, clock, transport, chat.outbox, backend)
            yield h
        finally:
            await repo.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def harness(request, config, tmp_path: Path):
    async for h in _harness(request, config, tmp_path, request.param):
        yield h


@pytest.fixture
async def sqlite_harness(request, config, tmp_path: Path):
    async for h in _harness(request, config, tmp_path, "sqlite"):
        yield h


@pytest.fixture
async def pg_harness(request, config, tmp_path: Path):
    async for h in _harness(request, config, tmp_path, "postgres"):
        yield h


async def dispatched_order(h: Harness) -> None:
    await h.say(GRID1, "张阿姨", NEED)
    await h.say(GRID1, "杨先媚", "派单1")


# Where in the message's transaction the fault strikes: every write of an intake and of a claim.
INTAKE_POINTS = ["begin_message", "insert_numbered_order", "add_event", "enqueue"]
CLAIM_POINTS = ["begin_message", "find_worker", "claim_order", "add_event", "enqueue"]


@pytest.mark.parametrize("fault, kind", [("full", "disk full"), ("read-only", "read-only")],
                         ids=["disk-full", "read-only"])
@pytest.mark.parametrize("point", INTAKE_POINTS)
async def test_fatal_fault_during_intake_stops_cleanly_with_nothing_applied(harness, caplog, point, fault, kind):
    before = await harness.state()
    harness.repo.arm(point, fault)
    message = harness.message(GRID1, "张阿姨", NEED)
    with caplog.at_level(logging.WARNING), pytest.raises(BotStopped):
        await harness.app.process(message)
    assert await harness.state() == before, "the transaction rolled back: no order, no number used, nothing queued"
    assert harness.app.stopped is not None and harness.app.stop_event.is_set()
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and f"database {kind}" in critical[0].getMessage()
    assert "stops taking messages" in critical[0].getMessage() and message.id in critical[0].getMessage()
    # Stopped for good: later messages are refused without touching the database.
    harness.repo.arm(point, fault, times=0)
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "李大爷", NEED))
    assert await harness.state() == before


@pytest.mark.parametrize("point", CLAIM_POINTS)
async def test_fatal_fault_during_a_claim_leaves_the_order_open(harness, point):
    await dispatched_order(harness)
    before = await harness.state()
    harness.repo.arm(point, "full")
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(MARKET, "熊明祥", "接1"))
    assert await harness.state() == before
    async with harness.repo.inner.transaction() as tx:
        order = await tx.get_order("洗马社区", 1)
    assert order.status == "dispatched" and order.taker_id is None


@pytest.mark.parametrize("point", INTAKE_POINTS)
async def test_locked_database_is_retried_and_the_message_applied_once(harness, caplog, point):
    harness.repo.arm(point, "locked", times=2)
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
    harness.repo.arm("insert_numbered_order", "locked", times=100)
    before = await harness.state()
    with caplog.at_level(logging.WARNING):
        sent = await harness.say(GRID1, "张阿姨", NEED)
    assert sent == [] and await harness.state() == before
    assert harness.sleeps == [0.01, 0.02, 0.04] and harness.repo.raised == 4
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "gave up on message" in errors[0] and "database locked" in errors[0]
    assert harness.app.stopped is None
    harness.repo.arm("insert_numbered_order", "locked", times=0)
    assert (await harness.say(GRID1, "李大爷", NEED))[0].text.count("#1") == 1, "the next message works"


@pytest.mark.parametrize("fault, fatal", [("locked", False), ("full", True), ("read-only", True)],
                         ids=["locked", "disk-full", "read-only"])
async def test_fault_at_commit_rolls_back(harness, monkeypatch, fault, fatal):
    """COMMIT itself fails: the transaction is rolled back and the connection stays usable."""
    failures = {"left": 1}
    make = harness.repo.errors[fault]
    if harness.backend == "sqlite":
        import storage.sqlite

        db = harness.repo.inner._db
        real_commit = storage.sqlite._commit  # COMMIT runs on the database thread, with the queued writes

        def commit(conn):
            if failures["left"]:
                failures["left"] -= 1
                raise make()
            return real_commit(conn)

        def undo() -> None:
            monkeypatch.setattr(storage.sqlite, "_commit", real_commit)

        async def left_open() -> bool:
            return db.in_transaction

        target: Any = storage.sqlite
        name, execute = "_commit", commit
    else:
        real_execute = asyncpg.Connection.execute
        failed_on: list[int] = []

        async def execute(conn, query, *args, **kwargs):
            if query == "COMMIT" and failures["left"]:
                failures["left"] -= 1
                failed_on.append(conn.get_server_pid())
                raise make()
            return await real_execute(conn, query, *args, **kwargs)

        def undo() -> None:
            monkeypatch.setattr(asyncpg.Connection, "execute", real_execute)

        async def left_open() -> bool:
            async with harness.pg_connection() as other:
                state = await other.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", failed_on[0])
            return state is not None and "transaction" in state  # "idle in transaction"

        target, name = asyncpg.Connection, "execute"

    before = await harness.state()
    monkeypatch.setattr(target, name, execute)
    if fatal:
        with pytest.raises(BotStopped):
            await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
        undo()
        assert await harness.state() == before and not await left_open()
    else:
        sent = await harness.say(GRID1, "张阿姨", NEED)
        assert "#1" in sent[0].text and len((await harness.state())["orders"]) == 1
        assert harness.sleeps == [0.01], "retried once"
    assert failures["left"] == 0, "COMMIT failed once"


async def test_fault_while_recording_a_handler_crash_stops(harness, monkeypatch):
    from handlers import intake

    async def boom(*args, **kwargs):
        raise RuntimeError("handler bug")

    routes = harness.app.router.routes
    monkeypatch.setitem(routes, intake.PostNeed, dataclasses.replace(routes[intake.PostNeed], handler=boom))
    harness.repo.arm("mark_processed", "read-only")
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    assert await harness.state() == before


async def test_outbox_stops_when_it_cannot_record_a_send(harness, caplog):
    """A sent message that cannot be marked sent would be sent again and again: stop instead."""
    await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    harness.repo.arm("mark_sent", "full")
    stop = asyncio.Event()
    with caplog.at_level(logging.CRITICAL):
        await asyncio.wait_for(harness.outbox.run(stop), timeout=5)
    assert len(harness.transport.sent) == 1
    assert any("outbox stops sending" in r.getMessage() for r in caplog.records)


# -- real SQLite conditions --------------------------------------------------------------------

async def test_real_lock_held_by_another_connection_is_waited_out(sqlite_harness, tmp_path):
    harness = sqlite_harness
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


async def test_real_disk_full_stops_with_nothing_applied(sqlite_harness):
    harness = sqlite_harness
    db = harness.repo.inner._db
    await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (pages,), = await db.execute_fetchall("PRAGMA page_count")
    await db.execute(f"PRAGMA max_page_count = {pages}")
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED + "。" + "详细情况" * 3000))
    assert harness.app.stopped.kind == "disk full"
    assert await harness.state() == before


async def test_real_read_only_database_stops_with_nothing_applied(sqlite_harness):
    harness = sqlite_harness
    db = harness.repo.inner._db
    await db.execute("PRAGMA query_only = 1")
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    assert harness.app.stopped.kind == "read-only"
    assert await harness.state() == before


# -- real PostgreSQL conditions ----------------------------------------------------------------

async def test_postgres_real_lock_held_by_another_connection_is_waited_out(pg_harness, caplog):
    harness = pg_harness
    await harness.reconnect(lock_timeout="20ms")
    async with harness.pg_connection() as other:
        await other.execute("BEGIN; LOCK TABLE counters IN EXCLUSIVE MODE")  # no order number for anyone

        async def release_on_first_retry(seconds: float) -> None:
            harness.sleeps.append(seconds)
            if other.is_in_transaction():
                await other.execute("COMMIT")

        harness.app.sleep = release_on_first_retry
        with caplog.at_level(logging.WARNING):
            sent = await harness.say(GRID1, "张阿姨", NEED)
    assert harness.sleeps == [0.01] and "#1" in sent[0].text
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "database locked" in warning and "lock timeout" in warning and "55P03" in warning
    state = await harness.state()
    assert len(state["orders"]) == 1 and len(state["processed"]) == 1 and len(state["outbox"]) == 1


async def test_postgres_real_serialization_failure_is_retried(pg_harness, caplog):
    """Under REPEATABLE READ (a deployment's default_transaction_isolation) another instance
    numbering an order of the same community after this transaction began is a conflict."""
    harness = pg_harness
    await harness.reconnect(default_transaction_isolation="repeatable read")

    async def concurrent_counter(tx) -> None:
        async with harness.pg_connection() as other:
            await other.execute("INSERT INTO counters (community, last_no) VALUES ('洗马社区', 0)")

    harness.repo.before("insert_numbered_order", concurrent_counter)
    with caplog.at_level(logging.WARNING):
        sent = await harness.say(GRID1, "张阿姨", NEED)
    assert harness.sleeps == [0.01] and "#1" in sent[0].text
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "database locked" in warning and "40001" in warning
    state = await harness.state()
    assert len(state["orders"]) == 1 and state["counters"] == [("洗马社区", 1)]


async def test_postgres_real_read_only_database_stops_with_nothing_applied(pg_harness):
    harness = pg_harness
    await harness.reconnect(default_transaction_read_only="on")
    before = await harness.state()
    with pytest.raises(BotStopped):
        await harness.app.process(harness.message(GRID1, "张阿姨", NEED))
    assert harness.app.stopped.kind == "read-only" and "25006" in harness.app.stopped.describe()
    assert isinstance(harness.app.stopped.__cause__, pgerr.ReadOnlySQLTransactionError)
    assert await harness.state() == before


@pytest.mark.parametrize("point", ["begin_message", "insert_numbered_order", "enqueue", "COMMIT"])
async def test_postgres_lost_connection_is_retried_on_a_fresh_one(pg_harness, monkeypatch, caplog, point):
    """The server ends the message's connection (pg_terminate_backend: an admin, a restart, a
    failover) just before a statement or COMMIT: the retry gets a new connection and the message
    is applied once."""
    harness = pg_harness
    killed: list[int] = []

    async def kill(conn) -> None:
        killed.append(conn.get_server_pid())
        async with harness.pg_connection() as other:
            assert await other.fetchval("SELECT pg_terminate_backend($1, 5000)", killed[-1])

    if point == "COMMIT":
        real_execute = asyncpg.Connection.execute

        async def execute(conn, query, *args, **kwargs):
            if query == "COMMIT" and not killed:
                await kill(conn)
            return await real_execute(conn, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    else:
        harness.repo.before(point, lambda tx: kill(tx.conn))
    with caplog.at_level(logging.WARNING):
        sent = await harness.say(GRID1, "张阿姨", NEED)
    assert harness.sleeps == [0.01] and len(sent) == 1 and "#1" in sent[0].text
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "database unreachable" in warning and "trying message" in warning
    state = await harness.state()
    assert len(state["orders"]) == 1 and len(state["processed"]) == 1 and len(state["outbox"]) == 1
    async with harness.repo.inner.transaction() as tx:
        assert tx.conn.get_server_pid() != killed[0]


# -- the PostgreSQL mapping, at the repository ---------------------------------------------------

@pytest.fixture
async def pg_repo(pg_url):  # noqa: F811  (the fixture imported above)
    async with pg_schema(pg_url) as settings:
        repo = PostgresRepository(pg_url, server_settings=settings, max_size=2)
        await repo.open()
        yield repo
        await repo.close()


PG_FAULTS = [
    # (asyncpg's exception for the SQLSTATE, the fault, its kind)
    (pgerr.SerializationError, StorageBusy, "locked"),
    (pgerr.DeadlockDetectedError, StorageBusy, "locked"),
    (pgerr.LockNotAvailableError, StorageBusy, "locked"),
    (pgerr.QueryCanceledError, StorageBusy, "locked"),
    (pgerr.TooManyConnectionsError, StorageBusy, "unreachable"),
    (pgerr.AdminShutdownError, StorageBusy, "unreachable"),
    (pgerr.CrashShutdownError, StorageBusy, "unreachable"),
    (pgerr.CannotConnectNowError, StorageBusy, "unreachable"),
    (pgerr.ConnectionDoesNotExistError, StorageBusy, "unreachable"),
    (pgerr.ConnectionFailureError, StorageBusy, "unreachable"),
    (pgerr.DiskFullError, StorageFull, "disk full"),
    (pgerr.ReadOnlySQLTransactionError, StorageReadOnly, "read-only"),
    (pgerr.InsufficientPrivilegeError, StorageBroken, "not permitted"),
    (pgerr.InsufficientResourcesError, StorageBroken, "out of resources"),
    (pgerr.OutOfMemoryError, StorageBroken, "out of memory"),
    (pgerr.DataCorruptedError, StorageBroken, "unusable"),
    (pgerr.IndexCorruptedError, StorageBroken, "unusable"),
    (pgerr.PostgresIOError, StorageBroken, "unusable"),
]


@pytest.mark.parametrize("error, fault, kind", PG_FAULTS, ids=[e.__name__ for e, _, _ in PG_FAULTS])
async def test_postgres_errors_map_to_faults_by_sqlstate(pg_repo, error, fault, kind):
    raised = error("the server's words")
    with pytest.raises(fault) as caught:
        async with pg_repo.transaction() as tx:
            await tx.set_meta("half", "applied")
            raise raised
    assert type(caught.value) is fault and caught.value.kind == kind
    assert caught.value.fatal is (fault is not StorageBusy)
    assert caught.value.__cause__ is raised
    described = caught.value.describe()
    assert "the server's words" in described and f"SQLSTATE {raised.sqlstate}" in described
    async with pg_repo.transaction() as tx:  # rolled back, and the pool still works
        assert await tx.get_meta("half") is None


@pytest.mark.parametrize("error", [
    pgerr.UniqueViolationError('duplicate key value violates unique constraint "processed_pkey"'),
    pgerr.DivisionByZeroError("division by zero"),
    asyncpg.InterfaceError("cannot use Connection.transaction() in a manually started transaction"),
    OSError(28, "No space left on device"),  # a handler's own file, not the database
    RuntimeError("handler bug"),
], ids=["unique-violation", "division-by-zero", "interface-error", "oserror", "runtime-error"])
async def test_postgres_other_errors_come_out_unchanged(pg_repo, error):
    with pytest.raises(type(error)) as caught:
        async with pg_repo.transaction() as tx:
            await tx.set_meta("half", "applied")
            raise error
    assert caught.value is error and not isinstance(caught.value, StorageFault)
    async with pg_repo.transaction() as tx:
        assert await tx.get_meta("half") is None


async def test_postgres_a_real_unique_violation_is_not_a_fault(pg_repo):
    async with pg_repo.transaction() as tx:
        await tx.mark_processed("m1", 1.0)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with pg_repo.transaction() as tx:
            await tx.set_meta("half", "applied")
            await tx.mark_processed("m1", 2.0)
    async with pg_repo.transaction() as tx:
        assert await tx.get_meta("half") is None


@pytest.mark.parametrize("then", ["another statement", "commit"])
async def test_postgres_a_caught_lock_timeout_still_fails_the_transaction(pg_repo, then):
    """A fault caught inside the transaction aborted it all the same: the next statement fails
    with 25P02 and COMMIT would quietly roll back; the fault that did it comes out."""
    other = await asyncpg.connect(pg_repo.url, server_settings=pg_repo.server_settings)
    try:
        await other.execute("BEGIN; LOCK TABLE counters IN EXCLUSIVE MODE")
        with pytest.raises(StorageBusy) as caught:
            async with pg_repo.transaction() as tx:
                await tx.conn.execute("SET LOCAL lock_timeout = '20ms'")
                await tx.set_meta("half", "applied")
                with pytest.raises(pgerr.LockNotAvailableError):
                    await tx.next_order_no("洗马社区")
                if then == "another statement":
                    await tx.set_meta("more", "applied")
        assert isinstance(caught.value.__cause__, pgerr.LockNotAvailableError)
        await other.execute("ROLLBACK")
    finally:
        await other.close()
    async with pg_repo.transaction() as tx:
        assert await tx.get_meta("half") is None and await tx.get_meta("more") is None


async def test_postgres_a_caught_error_that_is_no_fault_is_not_committed_quietly(pg_repo):
    async with pg_repo.transaction() as tx:
        await tx.mark_processed("m1", 1.0)
    with pytest.raises(RuntimeError, match="rolled back") as caught:
        async with pg_repo.transaction() as tx:
            await tx.set_meta("half", "applied")
            try:
                await tx.execute("INSERT INTO processed (message_id, at) VALUES (?, ?)", ("m1", 2.0))
            except asyncpg.UniqueViolationError:
                pass
    assert isinstance(caught.value.__cause__, asyncpg.UniqueViolationError)
    async with pg_repo.transaction() as tx:
        assert await tx.get_meta("half") is None


def test_postgres_errors_without_a_sqlstate_are_faults_only_when_the_connection_is_gone():
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    fault = as_fault(refused)  # while connecting (no connection yet)
    assert isinstance(fault, StorageBusy) and fault.kind == "unreachable" and "could not connect" in fault.detail

    class Open:
        def is_closed(self) -> bool:
            return False

    class Closed(Open):
        def is_closed(self) -> bool:
            return True

    for error in (OSError(28, "No space left on device"), asyncpg.InterfaceError("cannot do that")):
        assert as_fault(error, Open()) is None, "a live connection: not the database's fault"
        assert isinstance(as_fault(error, Closed()), StorageBusy)
    assert as_fault(pgerr.UniqueViolationError("duplicate key"), Closed()) is None


async def test_postgres_too_many_connections_is_retried_until_a_slot_frees(pg_repo):
    """A role at its connection limit (max_connections, a pooler): connecting for the
    transaction fails with 53300, StorageBusy; once a slot is free the next one connects."""
    schema = pg_repo.server_settings["search_path"]
    role, password = f"{schema}_role", secrets.token_hex(8)
    admin = await asyncpg.connect(pg_repo.url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' CONNECTION LIMIT 1")
    except pgerr.InsufficientPrivilegeError:
        await admin.close()
        pytest.skip(f"the role of {PG_URL_ENV} may not create roles")
    await admin.execute(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role};"
                        f"GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {role};"
                        f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
    url = urlsplit(pg_repo.url)
    as_role = urlunsplit(url._replace(netloc=f"{role}:{password}@{url.netloc.rpartition('@')[2]}"))
    limited = PostgresRepository(as_role, server_settings=pg_repo.server_settings, min_size=0, max_size=1)
    try:
        await limited.open()
        async with limited.transaction() as tx:
            first = tx.conn.get_server_pid()
        await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", first)  # the pool must connect again
        hog = await asyncpg.connect(limited.url)  # ... but the role's one slot is taken
        try:
            with pytest.raises(StorageBusy) as caught:
                async with limited.transaction() as tx:
                    await tx.set_meta("k", "v")
            assert caught.value.kind == "unreachable" and "53300" in caught.value.detail
            assert isinstance(caught.value.__cause__, pgerr.TooManyConnectionsError)
        finally:
            await hog.close()
        async with limited.transaction() as tx:
            await tx.set_meta("k", "v")
            assert tx.conn.get_server_pid() != first
        async with pg_repo.transaction() as tx:
            assert await tx.get_meta("k") == "v"
    finally:
        await limited.close()
        await admin.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
        await admin.close()
