"""The asyncpg backend: a shared PostgreSQL for several bot instances.

A connection pool; each ``transaction()`` takes one connection and runs one READ COMMITTED
transaction.  That isolation level is enough because every decision is a single conditional
statement (see ``storage.sqltx``): a claim is ``UPDATE ... WHERE id = ? AND status =
'dispatched'`` (a second claimer waits for the row lock, re-checks the condition and updates
nothing), order numbers come from an upsert on the community's counter row (locked until the
order's transaction ends, so numbers are gap-free), and a periodic report is claimed with
``INSERT ... ON CONFLICT DO NOTHING``.  Outbox coalescing takes a transaction-scoped advisory
lock on its key.

The schema comes from the same numbered migrations as SQLite (``storage.migrations``); the
applied ones are listed in ``schema_version``.  Tables live in the first schema of the
``search_path`` (set it per deployment with ``?search_path=linggong`` on the URL, or
``server_settings``).

Faults: ``transaction()`` rolls back and turns the driver's errors that are about the database
rather than the statement (a lock, a deadlock, a lost connection, a full disk, a read-only
server) into the ``storage.errors`` faults, by SQLSTATE (``as_fault``), as the SQLite backend
does; the app retries ``StorageBusy`` and stops on the others.  Every other error (a unique
violation, a bug) comes out unchanged.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg

from storage.errors import (
    StorageBroken,
    StorageBusy,
    StorageFault,
    StorageFull,
    StorageReadOnly,
)
from storage.migrations import load_migrations
from storage.models import Order
from storage.sqltx import SqlTx
from storage.stats import StorageStats

log = logging.getLogger(__name__)

# advisory lock classes (the first of the two int4 keys); the second key hashes the name
MIGRATION_LOCK = 0x4C470001
KEY_LOCK = 0x4C470002
_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """Rewrite ``?`` placeholders as PostgreSQL's ``$1, $2, ...``."""
    counter = iter(range(1, sql.count("?") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresRepository:
    """PostgreSQL through an asyncpg pool, migrated once per schema under an advisory lock."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10,
                 server_settings: dict[str, str] | None = None) -> None:
        self.url = url
        self.min_size, self.max_size = min_size, max_size
        self.server_settings = dict(server_settings or {})
        self.applied: list[int] = []  # migrations this instance applied when it opened
        self._pool: asyncpg.Pool | None = None
        self.stats = StorageStats()

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.url, min_size=self.min_size, max_size=self.max_size, server_settings=self.server_settings or None,
        )
        try:
            self.applied = await self._migrate()
        except asyncpg.InvalidSchemaNameError as exc:
            await self.close()
            raise RuntimeError(f"{exc}: the first schema on the search_path must exist "
                               "(CREATE SCHEMA ...), or leave search_path at its default") from exc
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> list[int]:
        """Apply pending migrations in one transaction; concurrent openers wait, then find none."""
        assert self._pool is not None
        applied = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema()::text, '')))", MIGRATION_LOCK,
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            for number, name, sql in load_migrations("postgresql"):
                if number <= version:
                    continue
                log.info("applying migration %03d %s", number, name)
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                                   number, name, time.time())
                applied.append(number)
        return applied

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[PostgresTx]:
        """A read-only REPEATABLE READ snapshot on a pooled connection: it takes no row locks,
        so it never holds up a write transaction."""
        assert self._pool is not None, "repository is not open"
        try:
            conn = await self._pool.acquire()
        except DRIVER_ERRORS as exc:
            if (fault := as_fault(exc)) is not None:
                raise fault from exc
            raise
        try:
            self.stats.reads += 1
            tx = PostgresTx(conn, self.stats)
            try:
                await tx.run_plain("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield tx
            except DRIVER_ERRORS as exc:
                await self._rollback(conn)
                if (fault := as_fault(exc, conn)) is not None:
                    raise fault from exc
                raise
            except BaseException:
                await self._rollback(conn)
                raise
            await tx.run_plain("COMMIT")
        finally:
            await self._release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTx]:
        """One transaction on a pooled connection.  A fault (``as_fault``) comes out as its
        ``storage.errors`` type with the driver's error as ``__cause__``, always after the
        transaction was rolled back; a connection that was lost, or could not roll back, is
        closed, so the pool opens a fresh one for the retry."""
        assert self._pool is not None, "repository is not open"
        try:
            conn = await self._pool.acquire()
        except DRIVER_ERRORS as exc:  # connecting: refused, too many connections, starting up
            if (fault := as_fault(exc)) is not None:
                raise fault from exc
            raise
        held = time.perf_counter()
        try:
            self.stats.transactions += 1
            tx = PostgresTx(conn, self.stats)
            try:
                await tx.run_plain("BEGIN")
            except DRIVER_ERRORS as exc:
                await self._rollback(conn)
                if (fault := as_fault(exc, conn)) is not None:
                    raise fault from exc
                raise
            try:
                yield tx
                await tx.flush()
            except BaseException as exc:
                await self._rollback(conn)
                if isinstance(exc, DRIVER_ERRORS):
                    # "current transaction is aborted": the error that aborted it was caught
                    # in between; that one says what happened.
                    cause = tx.error if _is_aborted(exc) and tx.error is not None else exc
                    if (fault := as_fault(cause, conn)) is not None:
                        raise fault from cause
                raise
            try:
                status = await tx.run_plain("COMMIT")
            except DRIVER_ERRORS as exc:
                await self._rollback(conn)  # a COMMIT the server never saw leaves the transaction open
                if (fault := as_fault(exc, conn)) is not None:
                    raise fault from exc
                raise
            if status == "ROLLBACK":  # what COMMIT says of a transaction an error aborted
                cause = tx.error
                if cause is not None and (fault := as_fault(cause, conn)) is not None:
                    raise fault from cause
                raise RuntimeError("the transaction was rolled back: an error aborted it and was caught "
                                   "before COMMIT") from cause
        finally:
            self.stats.held(time.perf_counter() - held)
            await self._release(conn)

    async def _rollback(self, conn: asyncpg.Connection) -> None:
        """Roll back if the transaction is still open; a connection that cannot is closed."""
        if _lost(conn) or not conn.is_in_transaction():
            return
        try:
            await conn.execute("ROLLBACK")
        except DRIVER_ERRORS as exc:
            log.error("could not roll back (%s); closing the connection", exc)
            conn.terminate()

    async def _release(self, conn: asyncpg.Connection) -> None:
        assert self._pool is not None
        try:
            await self._pool.release(conn)
        except DRIVER_ERRORS as exc:  # the pool closed the connection and opens a new one when needed
            log.warning("could not return a connection to the pool (%s); it was closed", exc)


# Errors from asyncpg (and its socket) that a transaction maps with ``as_fault``.
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)

_LOCKED = ("a concurrent transaction holds or changed the same rows (another linggong instance, a "
           "migration, a long query?)")
_UNREACHABLE = ("the PostgreSQL server closed the connection, is restarting or refuses connections for "
                "now; check the server (and max_connections) if this goes on")
_FULL = ("free space on the PostgreSQL server's disk, then start linggong again; messages sent meanwhile "
         "were not recorded")
_READ_ONLY = ("the PostgreSQL server accepts no writes (a standby, default_transaction_read_only?); point "
              "linggong at a writable primary, then start it again")
_PRIVILEGE = "the database role lacks a privilege on linggong's tables; GRANT it, then start linggong again"
_SERVER = ("the PostgreSQL server ran out of memory or another resource; check the server, then start "
           "linggong again")
_CORRUPT = ("PostgreSQL reports corrupt data or an I/O error; check the server's disk and log, restore "
            "a backup if need be, then start linggong again")

# SQLSTATE -> (fault, kind, advice); a kind of None keeps the fault type's own ("locked", ...).
# Codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
FAULTS: dict[str, tuple[type[StorageFault], str | None, str]] = {
    # retried: the same transaction can succeed a moment later
    "40001": (StorageBusy, None, _LOCKED),                # serialization_failure
    "40P01": (StorageBusy, None, _LOCKED),                # deadlock_detected
    "55P03": (StorageBusy, None, _LOCKED),                # lock_not_available (lock_timeout, NOWAIT)
    "57014": (StorageBusy, None, _LOCKED),                # query_canceled (statement_timeout)
    "53300": (StorageBusy, "unreachable", _UNREACHABLE),  # too_many_connections
    "57P01": (StorageBusy, "unreachable", _UNREACHABLE),  # admin_shutdown (also pg_terminate_backend)
    "57P02": (StorageBusy, "unreachable", _UNREACHABLE),  # crash_shutdown
    "57P03": (StorageBusy, "unreachable", _UNREACHABLE),  # cannot_connect_now (starting up, recovering)
    "08000": (StorageBusy, "unreachable", _UNREACHABLE),  # connection_exception
    "08001": (StorageBusy, "unreachable", _UNREACHABLE),  # sqlclient_unable_to_establish_sqlconnection
    "08003": (StorageBusy, "unreachable", _UNREACHABLE),  # connection_does_not_exist (asyncpg: lost it)
    "08006": (StorageBusy, "unreachable", _UNREACHABLE),  # connection_failure
    # fatal: the app stops taking messages
    "53100": (StorageFull, None, _FULL),                  # disk_full
    "25006": (StorageReadOnly, None, _READ_ONLY),         # read_only_sql_transaction
    "42501": (StorageBroken, "not permitted", _PRIVILEGE),  # insufficient_privilege
    "53000": (StorageBroken, "out of resources", _SERVER),  # insufficient_resources
    "53200": (StorageBroken, "out of memory", _SERVER),     # out_of_memory
    "XX001": (StorageBroken, None, _CORRUPT),             # data_corrupted
    "XX002": (StorageBroken, None, _CORRUPT),             # index_corrupted
    "58030": (StorageBroken, None, _CORRUPT),             # io_error
}


def as_fault(exc: BaseException, conn: asyncpg.Connection | None = None) -> StorageFault | None:
    """The ``storage.errors`` fault for a driver error, or None when it is not one (a unique
    violation, a bug: the caller re-raises it unchanged).

    A server error is looked up by its SQLSTATE in ``FAULTS``, never by its (translated)
    text.  An error without one (asyncpg's ``InterfaceError``, a socket's ``OSError``) is a
    lost connection, retried, only if ``conn`` is closed by then; without ``conn`` (while
    connecting) only an ``OSError`` is."""
    if isinstance(exc, asyncpg.PostgresError):
        code = exc.sqlstate or ""
        if code not in FAULTS:
            return None
        fault, kind, advice = FAULTS[code]
        text = (str(exc.args[0]) if exc.args else "").strip() or type(exc).__name__
        return fault(f"{text} [SQLSTATE {code}]", kind=kind, advice=advice)
    if conn is None:
        lost, what = isinstance(exc, OSError), "could not connect to PostgreSQL"
    else:
        lost, what = isinstance(exc, DRIVER_ERRORS) and _lost(conn), "lost the connection to PostgreSQL"
    if lost:  # asyncpg's own words ("released back to the pool") would only confuse: the socket's may help
        detail = f"{what}: {exc}" if isinstance(exc, OSError) and str(exc) else what
        return StorageBusy(detail, kind="unreachable", advice=_UNREACHABLE)
    return None


def _lost(conn: asyncpg.Connection) -> bool:
    """Whether ``conn`` is closed.  A pool's proxy lets go of its connection once that closed
    (then every call on it raises ``InterfaceError``), hence the look inside."""
    raw = getattr(conn, "_con", conn)
    return raw is None or raw.is_closed()


def _is_aborted(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate == "25P02"  # in_failed_sql_transaction


class PostgresTx(SqlTx):
    """One transaction on one pooled connection; the statements live in ``SqlTx``."""

    BINARY = ' COLLATE "C"'  # code point order, as SQLite sorts text

    def __init__(self, conn: asyncpg.Connection, stats: StorageStats | None = None) -> None:
        super().__init__()
        self.conn = conn
        self.stats = stats if stats is not None else StorageStats()
        self.error: BaseException | None = None  # the first driver error a statement raised

    @contextmanager
    def _noted(self) -> Iterator[None]:
        """Remember the first driver error: once it aborted the transaction, every later
        statement fails with 25P02 and COMMIT rolls back, which says nothing of the cause."""
        try:
            yield
        except DRIVER_ERRORS as exc:
            if self.error is None:
                self.error = exc
            raise

    def _count(self, statements: int = 1) -> None:
        self.stats.round_trips += 1
        self.stats.statements += statements

    async def run_plain(self, sql: str) -> str:
        """A statement without arguments (BEGIN, COMMIT): one round trip; its status."""
        self._count()
        with self._noted():
            return await self.conn.execute(sql)

    async def flush(self) -> None:
        """Send the queued ``later`` writes: each run of INSERTs into one table becomes one
        multi-row INSERT, and all of them one statement (data-modifying WITH), one round trip.
        Rows of one table keep their order (their ids follow it)."""
        later = self.take_later()
        while later:
            parts: list[tuple[str, list[tuple[Any, ...]]]] = []
            count = 0
            while later and count + len(later[0][1]) <= 30000:  # PostgreSQL takes up to 32767 arguments
                sql, args = later.pop(0)
                if parts and parts[-1][0] == sql:
                    parts[-1][1].append(args)
                else:
                    parts.append((sql, [args]))
                count += len(args)
            statement, values = _combined(parts)
            self._count(sum(len(rows) for _, rows in parts))
            with self._noted():
                await self.conn.execute(statement, *values)

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        await self.flush()
        self._count()
        with self._noted():
            row = await self.conn.fetchrow(numbered(sql), *args)
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        await self.flush()
        self._count()
        with self._noted():
            return [dict(r) for r in await self.conn.fetch(numbered(sql), *args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        await self.flush()
        self._count()
        with self._noted():
            status = await self.conn.execute(numbered(sql), *args)  # e.g. "UPDATE 1", "INSERT 0 1"
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.flush()
        self._count(len(rows))
        with self._noted():
            await self.conn.executemany(numbered(sql), rows)

    async def insert_numbered_order(self, values: dict[str, Any]) -> Order:
        """The counter's upsert and the INSERT in one statement: the order takes the number the
        upsert returns (the counter row stays locked until the transaction ends: no gaps)."""
        values = {**values, "phones": json.dumps(list(values.get("phones", ())), ensure_ascii=False)}
        cols = ", ".join([*values, "no"])
        marks = ", ".join("?" for _ in values)
        row = await self.fetch_one(
            "WITH c AS (INSERT INTO counters (community, last_no) VALUES (?, 1) ON CONFLICT (community) "
            "DO UPDATE SET last_no = counters.last_no + 1 RETURNING last_no) "
            f"INSERT INTO orders ({cols}) SELECT {marks}, c.last_no FROM c RETURNING *",
            (values["community"], *values.values()))
        assert row is not None
        return Order.from_row(row)

    async def serialize(self, key: str) -> None:
        # keyed by schema too, so deployments (or test runs) in other schemas never wait on it
        await self.flush()
        self._count()
        with self._noted():
            await self.conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()::text || ':' || $2))", KEY_LOCK, key,
            )


def _combined(parts: list[tuple[str, list[tuple[Any, ...]]]]) -> tuple[str, list[Any]]:
    """One statement for runs of single-row INSERTs (``INSERT INTO t (...) VALUES (?, ...)``):
    each run as a multi-row INSERT, several runs as the parts of a data-modifying WITH."""
    statements, values = [], []
    for sql, rows in parts:
        head, _, row_marks = sql.partition(" VALUES ")
        assert head.startswith("INSERT INTO ") and row_marks.startswith("("), sql
        tail = ""
        if " ON CONFLICT " in row_marks:
            row_marks, _, rest = row_marks.partition(" ON CONFLICT ")
            tail = " ON CONFLICT " + rest
        statements.append(f"{head} VALUES {', '.join([row_marks] * len(rows))}{tail}")
        values += [v for row in rows for v in row]
    if len(statements) == 1:
        return numbered(statements[0]), values
    body = ", ".join(f"w{i} AS ({s})" for i, s in enumerate(statements[:-1]))
    return numbered(f"WITH {body} {statements[-1]}"), values


@asynccontextmanager
async def scratch_schema(url: str, prefix: str = "lg_tmp") -> AsyncIterator[dict[str, str]]:
    """A new, randomly named schema, dropped afterwards; yields the server settings that put it
    first on the search path (for tests and benchmarks that must not touch each other's data)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        yield {"search_path": name}
    finally:
        await conn.execute(f"SET client_min_messages = warning; DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()
