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
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

import asyncpg

from storage.migrations import load_migrations
from storage.sqltx import SqlTx

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
    async def transaction(self) -> AsyncIterator["PostgresTx"]:
        assert self._pool is not None, "repository is not open"
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresTx(conn)


class PostgresTx(SqlTx):
    """One transaction on one pooled connection; the statements live in ``SqlTx``."""

    BINARY = ' COLLATE "C"'  # code point order, as SQLite sorts text

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(numbered(sql), *args)
        return dict(row) if row is not None else None

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.conn.fetch(numbered(sql), *args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        status = await self.conn.execute(numbered(sql), *args)  # e.g. "UPDATE 1", "INSERT 0 1"
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(numbered(sql), rows)

    async def serialize(self, key: str) -> None:
        # keyed by schema too, so deployments (or test runs) in other schemas never wait on it
        await self.conn.execute("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()::text || ':' || $2))",
                                KEY_LOCK, key)


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
