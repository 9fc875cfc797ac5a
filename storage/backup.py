"""``linggong backup PATH`` and ``linggong restore PATH``: copies of the SQLite database.

Backup uses SQLite's online backup API on its own read connection: in WAL mode a reader
neither blocks the running bot nor is blocked by it, and the copy is one consistent snapshot
(every message's transaction is in it completely or not at all).  The copy is written to a
temporary file next to PATH, switched to a single self-contained file (no -wal), checked
with ``PRAGMA integrity_check`` and only then renamed to PATH, so PATH is either the previous
file or a complete, checked backup.

Restore refuses a file that is not a linggong database, fails ``integrity_check`` or was made
by a newer linggong; refuses while the database is in use (stop the bot first); keeps the
current database as ``<db>.before-restore-<YYYYmmdd-HHMMSS>`` and puts the backup in its place
the same careful way.

Both work on the SQLite backend only (for PostgreSQL use pg_dump / pg_restore).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from storage.migrations import load_migrations

REQUIRED_TABLES = frozenset({"orders", "workers", "events", "counters", "processed", "outbox"})
STAMP = "%Y%m%d-%H%M%S"


class BackupError(Exception):
    """A backup or restore was refused or failed; the message says why and what to do."""


@dataclass(frozen=True)
class DatabaseInfo:
    path: Path
    schema: int
    orders: int
    workers: int
    size: int


def sqlite_path(database: str) -> Path:
    """The file behind ``bot.database`` (a path or ``sqlite:///path``)."""
    if database.startswith("sqlite:///"):
        return Path(database.removeprefix("sqlite:///"))
    if "://" in database:
        raise BackupError(f"{database}: backup and restore work on the SQLite database; "
                          "for PostgreSQL use pg_dump and pg_restore")
    return Path(database)


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode=ro" if read_only else str(path)
    conn = sqlite3.connect(uri, uri=read_only, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def inspect(path: Path, *, what: str = "file") -> DatabaseInfo:
    """Check that ``path`` is an intact linggong database this version can use."""
    if not path.is_file():
        raise BackupError(f"{path}: no such {what}")
    latest = max(number for number, _, _ in load_migrations())
    try:
        conn = _connect(path, read_only=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not REQUIRED_TABLES <= tables:
                raise BackupError(f"{path}: not a linggong database (it has no {', '.join(sorted(REQUIRED_TABLES - tables))} "
                                  "table); pick a file made by `linggong backup`")
            (schema,) = conn.execute("PRAGMA user_version").fetchone()
            if schema > latest:
                raise BackupError(f"{path}: made by a newer linggong (database schema {schema}, this version knows "
                                  f"up to {latest}); update linggong first")
            try:
                problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as exc:
                problems = [str(exc)]
            if problems != ["ok"]:
                raise BackupError(f"{path}: damaged, PRAGMA integrity_check says: {'; '.join(problems[:3])}")
            (orders,) = conn.execute("SELECT COUNT(*) FROM orders").fetchone()
            (workers,) = conn.execute("SELECT COUNT(*) FROM workers").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a usable SQLite database ({exc})") from None
    return DatabaseInfo(path, schema, orders, workers, path.stat().st_size)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_checked(source: sqlite3.Connection, target: Path) -> DatabaseInfo:
    """Copy the open ``source`` database to ``target`` (replaced atomically) and check it."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        dest = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            source.backup(dest)  # one step: a single consistent read snapshot of the source
            dest.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            dest.close()
        _fsync(tmp)
        info = inspect(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return DatabaseInfo(target, info.schema, info.orders, info.workers, info.size)


def backup_database(database: Path, target: Path, now: datetime) -> DatabaseInfo:
    """Write a checked copy of ``database`` to ``target`` (a file, or a folder to put one in)."""
    if not database.is_file():
        raise BackupError(f"{database}: no database there (check bot.database in config.toml or --db)")
    if target.is_dir():
        target = target / f"linggong-{now.strftime(STAMP)}.db"
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    if target.resolve() == database.resolve():
        raise BackupError(f"{target}: that is the database itself; choose another file")
    source = _connect(database)
    try:
        tables = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not REQUIRED_TABLES <= tables:
            raise BackupError(f"{database}: not a linggong database")
        return _copy_checked(source, target)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"backup of {database} failed: {exc}") from None
    finally:
        source.close()


def _take_offline(database: Path) -> None:
    """Make sure no one has ``database`` open, and fold its WAL into the main file.

    Leaving WAL mode needs the only connection to the database: it fails while the bot runs."""
    conn = sqlite3.connect(str(database), isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 200")
        (mode,) = conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        if mode.lower() != "delete":
            raise sqlite3.OperationalError("database is locked")
    except sqlite3.OperationalError as exc:
        raise BackupError(f"{database} is in use ({exc}); stop linggong first, then restore") from None
    finally:
        conn.close()


def restore_database(backup: Path, database: Path, now: datetime) -> tuple[DatabaseInfo, Path | None]:
    """Put ``backup`` in place of ``database``; returns the restored info and where the old one is kept."""
    inspect(backup, what="backup file")
    if backup.resolve() == database.resolve():
        raise BackupError(f"{backup}: that is the database itself")
    kept = None
    if database.exists():
        _take_offline(database)
        kept = database.with_name(f"{database.name}.before-restore-{now.strftime(STAMP)}")
        if kept.exists():
            raise BackupError(f"{kept} already exists; wait a second and try again")
        os.replace(database, kept)
        for suffix in ("-wal", "-shm"):
            side = database.with_name(database.name + suffix)
            if side.exists():
                os.replace(side, kept.with_name(kept.name + suffix))
    else:
        database.parent.mkdir(parents=True, exist_ok=True)
    try:
        source = _connect(backup, read_only=True)
        try:
            info = _copy_checked(source, database)
        finally:
            source.close()
    except BaseException:
        if kept is not None and not database.exists():
            os.replace(kept, database)  # put the old database back
        raise
    return info, kept
