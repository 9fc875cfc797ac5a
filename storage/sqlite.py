"""The aiosqlite backend: one write connection, write transactions serialised by a lock, and a
second connection for read-only snapshots (WAL readers never wait for the writer).

Each call to aiosqlite's database thread costs a round trip (~30-70 µs, more under load), so a
transaction sends its work in as few calls as it can: BEGIN rides along with the first
statement, writes nobody reads (``SqlTx.later``) with the next statement or the COMMIT."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage.errors import (
    StorageBroken,
    StorageBusy,
    StorageFault,
    StorageFull,
    StorageReadOnly,
)
from storage.migrations import load_migrations
from storage.sqltx import SqlTx
from storage.stats import StorageStats

log = logging.getLogger(__name__)


class SqliteRepository:
    """SQLite file (or ``:memory:``) in WAL mode with numbered migrations (PRAGMA user_version)."""

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: aiosqlite.Connection | None = None
        self._read_lock = asyncio.Lock()
        self.stats = StorageStats()

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db.row_factory = aiosqlite.Row
        try:
            for pragma in ("journal_mode = WAL", f"synchronous = {self.synchronous}",
                           "foreign_keys = ON", "busy_timeout = 5000"):
                await self._db.execute(f"PRAGMA {pragma}")
            await self._migrate()
        except BaseException:  # not a usable database (a failed migration, a locked file): do not leak it
            await self.close()
            raise

    async def _migrate(self) -> None:
        assert self._db is not None
        async with self._db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
        pending = [(n, name, sql) for n, name, sql in load_migrations() if n > version]
        if not pending:
            return
        # SQLite's way to change a table's constraints is to rebuild it (005): with foreign keys
        # off, checked before the last commit, as https://sqlite.org/lang_altertable.html says.
        await self._db.execute("PRAGMA foreign_keys = OFF")
        try:
            for number, name, sql in pending:
                log.info("applying migration %03d %s", number, name)
                await self._db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            async with self._db.execute("PRAGMA foreign_key_check") as cur:
                broken = await cur.fetchall()
            if broken:
                raise RuntimeError(f"migrations left {len(broken)} broken foreign keys, e.g. {tuple(broken[0])}")
        finally:
            await self._db.execute("PRAGMA foreign_keys = ON")

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqliteTx]:
        """A read-only snapshot on the second connection (a file database), so long reads never
        hold the write lock; on ``:memory:`` (one connection) a transaction of the write one."""
        if self.path == ":memory:":
            async with self.transaction() as tx:
                yield tx
            return
        assert self._db is not None, "repository is not open"
        async with self._read_lock:
            if self._reader is None:
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                self._reader.row_factory = aiosqlite.Row
                await self._reader.execute("PRAGMA query_only = ON")
                await self._reader.execute("PRAGMA busy_timeout = 5000")
            self.stats.reads += 1
            tx = SqliteTx(self._reader, self.stats, begin="BEGIN")
            try:
                yield tx
            finally:
                if self._reader.in_transaction:
                    await self._reader.execute("COMMIT")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        """One write transaction; SQLite's lock, disk-full and read-only errors come out as
        ``storage.errors`` faults, always after the transaction was rolled back."""
        assert self._db is not None, "repository is not open"
        async with self._lock:
            held = time.perf_counter()
            self.stats.transactions += 1
            tx = SqliteTx(self._db, self.stats, begin="BEGIN IMMEDIATE")
            try:
                yield tx
                await tx.commit()
            except BaseException as exc:
                # Also when cancelled while a call was queued: the database thread still runs it,
                # and the ROLLBACK queues behind it.
                await self._rollback()
                if isinstance(exc, sqlite3.Error) and isinstance(fault := as_fault(exc), StorageFault):
                    raise fault from exc
                raise
            finally:
                self.stats.held(time.perf_counter() - held)

    async def _rollback(self) -> None:
        assert self._db is not None
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # never begun, or SQLite already rolled back (disk full, I/O error)
            if self._db.in_transaction:
                log.error("could not roll back: %s", exc)


def as_fault(exc: sqlite3.Error) -> StorageFault | sqlite3.Error:
    """The ``storage.errors`` fault for a SQLite error, or the error itself when it is not one."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "is locked" in text or "database is busy" in text:
        return StorageBusy(str(exc))
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StorageFull(str(exc))
    if name.startswith("SQLITE_READONLY") or "readonly database" in text or "read-only" in text:
        return StorageReadOnly(str(exc))
    if (name.startswith(("SQLITE_IOERR", "SQLITE_CORRUPT", "SQLITE_CANTOPEN", "SQLITE_NOTADB"))
            or "disk i/o error" in text or "malformed" in text or "unable to open database" in text):
        return StorageBroken(str(exc))
    return exc


class SqliteTx(SqlTx):
    """One transaction on a connection; the statements live in ``SqlTx``.

    Every primitive is one call to the database thread (``_call``) that first runs what is
    queued: the transaction's BEGIN, then the ``later`` writes, in order."""

    def __init__(self, db: aiosqlite.Connection, stats: StorageStats, *, begin: str) -> None:
        super().__init__()
        self.db = db
        self.stats = stats
        self._begin: str | None = begin

    async def _call(self, fn: Any, *args: Any) -> Any:
        begin, self._begin = self._begin, None
        later = self.take_later()
        self.stats.round_trips += 1
        self.stats.statements += (begin is not None) + len(later) + (fn is not None)
        # aiosqlite runs every call as a function on its thread (``Connection._execute``, which
        # all of its public methods use); one function here runs the queued work and the statement.
        return await self.db._execute(_run_queued, self.db._conn, begin, later, fn, args)

    async def commit(self) -> None:
        if self._begin is None or self._later:  # nothing ran and nothing is queued: nothing to commit
            await self._call(_commit)
        else:
            self._begin = None

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self._call(_fetch, sql, args)
        return dict(rows[0]) if rows else None

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._call(_fetch, sql, args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await self._call(_execute, sql, args)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._call(_execute_many, sql, rows)


def _run_queued(conn: sqlite3.Connection, begin: str | None, later: list[tuple[str, tuple[Any, ...]]],
                fn: Any, args: tuple[Any, ...]) -> Any:
    """On the database thread: BEGIN if due, the queued writes (a run of the same statement as
    one executemany), then ``fn(conn, *args)``."""
    if begin is not None:
        conn.execute(begin)
    i = 0
    while i < len(later):
        j = i + 1
        while j < len(later) and later[j][0] == later[i][0]:
            j += 1
        if j - i == 1:
            conn.execute(*later[i])
        else:
            conn.executemany(later[i][0], [a for _, a in later[i:j]])
        i = j
    return fn(conn, *args) if fn is not None else None


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
    return conn.execute(sql, args).fetchall()


def _execute(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    cursor = conn.execute(sql, args)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _execute_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    conn.executemany(sql, rows).close()


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")
