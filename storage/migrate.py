"""``linggong migrate``: copy a SQLite file's data into a shared database (usually PostgreSQL).

Everything in the file is copied, table by table, in one target transaction (all or
nothing).  Rows are matched by natural keys, so running it again inserts nothing new:

- workers by (community, name), orders by (community, no); the target's own ids are used and
  ``orders.taker_id`` / ``events.order_id`` are mapped through those keys;
- events, outbox rows and intake labels have no natural key, so each distinct row content (events: order,
  community, time, actor, kind, detail; outbox: created_at, room, contact, text, coalesce key)
  is copied until the target holds as many as the source;
- counters keep the larger number; processed ids, job runs and meta keys are inserted unless
  present (the target's value wins).

Stop the bot that writes the SQLite file first; opening the file brings it to the current
schema, as the bot itself would.  At the end the row counts are compared per
table (for the communities in the file); a difference fails with a message naming the table.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from storage import SQLITE_SCHEME, backend_of, display_database, open_repository
from storage.migrations import load_migrations
from storage.sqltx import SqlTx

BATCH = 500
EVENT_KEY = ("order_id", "community", "at", "actor", "kind", "detail")
OUTBOX_KEY = ("created_at", "room", "contact", "text", "coalesce_key")
LABEL_KEY = ("community", "order_no", "text", "decision", "labelled_at")


class MigrationError(Exception):
    """The migration cannot start, or its count check found a difference."""


@dataclass
class TableResult:
    table: str
    source: int  # rows in the SQLite file
    inserted: int  # rows this run added to the target
    target: int  # rows the target now holds for what was migrated


class Progress:
    """A plain-text progress bar, redrawn in place on one line per table."""

    def __init__(self, stream: TextIO | None, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.live = stream is not None and stream.isatty()  # redraw in place; else one line per table

    def show(self, table: str, done: int, total: int) -> None:
        if self.stream is None or (done < total and not self.live):
            return
        filled = self.width if total == 0 else self.width * done // total
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(("\r" if self.live else "") + f"{table:<13} [{bar}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


async def migrate(source: str, target: str, *, progress: TextIO | None = None) -> list[TableResult]:
    """Copy ``source`` (a SQLite path or ``sqlite:///`` URL) into ``target``; return per-table counts.

    ``progress``: where to draw the progress bar (the command passes stderr)."""
    if backend_of(source) != "sqlite":
        raise MigrationError(f"--from must be a SQLite file (a path or sqlite:///path), not {source}")
    path = source.removeprefix(SQLITE_SCHEME)
    if not Path(path).is_file():
        raise MigrationError(f"no SQLite file at {path}")
    if backend_of(target) == "sqlite" and Path(target.removeprefix(SQLITE_SCHEME)).resolve() == Path(path).resolve():
        raise MigrationError("--from and --to are the same database")
    src_repo = await open_repository(path)
    try:
        try:
            dst_repo = await open_repository(target)
        except Exception as exc:  # refused, unknown host or database, bad credentials
            raise MigrationError(f"cannot open {_safe(target)}: {exc}") from exc
        try:
            async with src_repo.transaction() as src, dst_repo.transaction() as dst:
                assert isinstance(src, SqlTx) and isinstance(dst, SqlTx)
                return await Copy(src, dst, Progress(progress)).run()
        finally:
            await dst_repo.close()
    finally:
        await src_repo.close()


_safe = display_database  # the URL without its password, for messages


async def upgrade(target: str) -> tuple[int, list[int]]:
    """Bring ``target`` to the current schema (what every command does when it opens a
    database); return the schema version and the migrations applied now.  For upgrades: stop
    every instance, run this once, start them again."""
    latest = load_migrations()[-1][0]
    before = 0
    if backend_of(target) == "sqlite":
        path = Path(target.removeprefix(SQLITE_SCHEME))
        if path.is_file():
            import sqlite3

            with contextlib.closing(sqlite3.connect(path)) as db:
                (before,) = db.execute("PRAGMA user_version").fetchone()
    try:
        repo = await open_repository(target)
    except Exception as exc:
        raise MigrationError(f"cannot open {_safe(target)}: {exc}") from exc
    await repo.close()
    applied = getattr(repo, "applied", None)
    return latest, list(applied) if applied is not None else list(range(before + 1, latest + 1))


def _in(values: Sequence[Any]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


class Copy:
    def __init__(self, src: SqlTx, dst: SqlTx, progress: Progress) -> None:
        self.src, self.dst, self.progress = src, dst, progress
        self.communities: list[str] = []
        self.results: list[TableResult] = []

    async def run(self) -> list[TableResult]:
        rows = await self.src.fetch_all(
            "SELECT community FROM workers UNION SELECT community FROM orders UNION SELECT community FROM events "
            "UNION SELECT community FROM counters UNION SELECT community FROM job_runs "
            "UNION SELECT community FROM intake_labels")
        self.communities = sorted(r["community"] for r in rows)
        workers = await self._keyed("workers", ("community", "name"), {})
        orders = await self._keyed("orders", ("community", "no"), {"taker_id": workers})
        await self._multiset("events", EVENT_KEY, {"order_id": orders}, await self._scoped("events"))
        await self._counters()
        await self._present("processed", "message_id")
        await self._outbox()
        await self._keyed("job_runs", ("job", "community", "period"), None)
        await self._present("meta", "key")
        await self._multiset("intake_labels", LABEL_KEY, {}, await self._scoped("intake_labels"))
        await self._present("bindings", "person")
        await self._present("bind_codes", "code_hash")
        mismatched = [r for r in self.results if r.source != r.target]
        if mismatched:
            lines = [f"{r.table}: {r.source} rows in the source, {r.target} in the target"
                     + (" (the target has rows the source lacks: did a bot already write them there?)"
                        if r.target > r.source else "") for r in mismatched]
            raise MigrationError("count check failed; nothing was committed\n  " + "\n  ".join(lines))
        return self.results

    async def _count(self, table: str) -> int:
        if not self.communities:
            return 0
        row = await self.dst.fetch_one(f"SELECT COUNT(*) AS n FROM {table} WHERE community IN {_in(self.communities)}",
                                       self.communities)
        return int(row["n"]) if row else 0

    async def _insert(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], conflict: str) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_in(columns)} {conflict}"
        self.progress.show(table, 0, len(rows))
        for start in range(0, len(rows), BATCH):
            await self.dst.execute_many(sql, rows[start:start + BATCH])
            self.progress.show(table, min(start + BATCH, len(rows)), len(rows))

    async def _keyed(self, table: str, key: tuple[str, ...], mapped: dict[str, dict[int, int]] | None
                     ) -> dict[int, int]:
        """Insert rows unless their natural key exists; return source id -> target id (if ids)."""
        order = "id" if mapped is not None else ", ".join(key)  # ids: keep the source's order
        source = await self.src.fetch_all(f"SELECT * FROM {table} ORDER BY {order}")
        columns = [c for c in (source[0] if source else {}) if c != "id"]
        before = await self._count(table)
        rows = [tuple(_map(r, c, mapped or {}) for c in columns) for r in source]
        await self._insert(table, columns, rows, f"ON CONFLICT ({', '.join(key)}) DO NOTHING")
        after = await self._count(table)
        self.results.append(TableResult(table, len(source), after - before, after))
        if mapped is None:
            return {}
        target = {tuple(r[k] for k in key): r["id"] for r in await self._scoped(table, key)}
        return {r["id"]: target[tuple(r[k] for k in key)] for r in source}

    async def _scoped(self, table: str, columns: Iterable[str] = ("*",)) -> list[dict[str, Any]]:
        if not self.communities:
            return []
        cols = ", ".join(["id", *columns]) if columns != ("*",) else "*"
        return await self.dst.fetch_all(f"SELECT {cols} FROM {table} WHERE community IN {_in(self.communities)} "
                                        "ORDER BY id", self.communities)

    async def _multiset(self, table: str, key: tuple[str, ...], mapped: dict[str, dict[int, int]],
                        existing: list[dict[str, Any]]) -> None:
        """Copy rows until the target holds as many of each distinct key as the source."""
        source = await self.src.fetch_all(f"SELECT * FROM {table} ORDER BY id")
        have = Counter(tuple(r[k] for k in key) for r in existing)
        columns = [c for c in (source[0] if source else {}) if c != "id"]
        missing, present = [], 0
        for row in source:
            k = tuple(_map(row, c, mapped) for c in key)
            if have[k] > 0:
                have[k] -= 1
                present += 1
            else:
                missing.append(tuple(_map(row, c, mapped) for c in columns))
        await self._insert(table, columns, missing, "")
        target = await self._count(table) if table == "events" else present + len(missing)
        self.results.append(TableResult(table, len(source), len(missing), target))

    async def _counters(self) -> None:
        source = await self.src.fetch_all("SELECT community, last_no FROM counters ORDER BY community")
        before = await self._count("counters")
        await self._insert("counters", ("community", "last_no"), [(r["community"], r["last_no"]) for r in source],
                           "ON CONFLICT (community) DO UPDATE SET last_no = CASE WHEN excluded.last_no > "
                           "counters.last_no THEN excluded.last_no ELSE counters.last_no END")
        after = await self._count("counters")
        self.results.append(TableResult("counters", len(source), after - before, after))

    async def _present(self, table: str, key: str) -> None:
        """Tables without a community column: insert missing keys, count the source's keys present."""
        source = await self.src.fetch_all(f"SELECT * FROM {table} ORDER BY {key}")
        columns = list(source[0]) if source else [key]
        before = await self._keys_present(table, key, [r[key] for r in source])
        await self._insert(table, columns, [tuple(r.values()) for r in source], f"ON CONFLICT ({key}) DO NOTHING")
        after = await self._keys_present(table, key, [r[key] for r in source])
        self.results.append(TableResult(table, len(source), after - before, after))

    async def _keys_present(self, table: str, key: str, keys: list[Any]) -> int:
        found = 0
        for start in range(0, len(keys), BATCH):
            chunk = keys[start:start + BATCH]
            row = await self.dst.fetch_one(f"SELECT COUNT(*) AS n FROM {table} WHERE {key} IN {_in(chunk)}", chunk)
            found += int(row["n"]) if row else 0
        return found

    async def _outbox(self) -> None:
        bounds = await self.src.fetch_one("SELECT MIN(created_at) AS lo, MAX(created_at) AS hi FROM outbox")
        existing: list[dict[str, Any]] = []
        if bounds and bounds["lo"] is not None:
            existing = await self.dst.fetch_all(
                f"SELECT {', '.join(OUTBOX_KEY)} FROM outbox WHERE created_at >= ? AND created_at <= ?",
                (bounds["lo"], bounds["hi"]))
        await self._multiset("outbox", OUTBOX_KEY, {}, existing)


def _map(row: dict[str, Any], column: str, mapped: dict[str, dict[int, int]]) -> Any:
    value = row[column]
    if value is not None and column in mapped:
        return mapped[column][value]
    return value
