"""The aiosqlite backend: one connection, write transactions serialised by a lock."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
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

log = logging.getLogger(__name__)


class SqliteRepository:
    """SQLite file (or ``:memory:``) in WAL mode with numbered migrations (PRAGMA user_version)."""

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

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
        if self._db is not None:
            await self._db.close()
            self._db = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        """One write transaction; SQLite's lock, disk-full and read-only errors come out as
        ``storage.errors`` faults, always after the transaction was rolled back."""
        assert self._db is not None, "repository is not open"
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if isinstance(fault := as_fault(exc), StorageFault):
                    raise fault from exc
                raise
            except BaseException:
                # Cancelled while BEGIN was queued: the database thread still runs it, and the
                # next transaction would find this one open.  The ROLLBACK queues behind it.
                await self._rollback()
                raise
            try:
                yield SqliteTx(self._db)
            except BaseException as exc:
                await self._rollback()
                if isinstance(exc, sqlite3.Error) and isinstance(fault := as_fault(exc), StorageFault):
                    raise fault from exc
                raise
            try:
                await self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback()  # a failed COMMIT may leave the transaction open (SQLITE_BUSY)
                if isinstance(fault := as_fault(exc), StorageFault):
                    raise fault from exc
                raise

    async def _rollback(self) -> None:
        assert self._db is not None
        try:
            await self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # SQLite may already have rolled back (disk full, I/O error)
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
    """One transaction on the shared connection; the statements live in ``SqlTx``."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    # One round trip to the database thread each (~30-70 µs): execute_fetchall instead of
    # execute + fetch + close, and a write's row count read without closing its cursor.
    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.db.execute_fetchall(sql, args)
        return dict(rows[0]) if rows else None

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.execute_fetchall(sql, args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cursor = await self.db.execute(sql, args)
        return cursor.rowcount

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.db.executemany(sql, rows)
