"""linggong backup / restore: consistent copies while the bot writes, careful restores."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.replay import replay_file
from bot.transport import IncomingMessage
from storage.backup import BackupError, backup_database, inspect, restore_database
from storage.sqlite import SqliteRepository
from tests.conftest import ROOT, START

DAY = ROOT / "tests" / "data" / "xima_day.jsonl"
NOW = datetime(2026, 11, 24, 7, 30, 0)


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def orders_of(path: Path) -> list[tuple]:
    return rows(path, "SELECT community, no, status, taker_id, rating FROM orders ORDER BY id")


@pytest.fixture
async def day_db(config, tmp_path) -> Path:
    db = tmp_path / "live" / "linggong.db"
    db.parent.mkdir()
    await replay_file(config, DAY, str(db))
    return db


async def test_backup_is_a_checked_single_file_copy(day_db, tmp_path):
    info = backup_database(day_db, tmp_path / "b.db", NOW)
    assert info.orders == 9 and info.path == tmp_path / "b.db"
    assert orders_of(tmp_path / "b.db") == orders_of(day_db)
    assert rows(tmp_path / "b.db", "PRAGMA journal_mode") == [("delete",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.db", "live"], "no temporary or -wal files left"


async def test_backup_into_a_folder_names_the_file_by_time(day_db, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    info = backup_database(day_db, folder, NOW)
    assert info.path == folder / "linggong-20261124-073000.db"


async def test_backup_while_the_bot_is_writing_is_consistent(config, tmp_path):
    """Backups taken while app.process commits messages are complete snapshots: every order
    has its number, its audit event, its acknowledgement and its processed message id."""
    from dataclasses import replace

    config = replace(config, flood=replace(config.flood, max_per_minute=10**6))
    db = tmp_path / "busy.db"
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    repo = SqliteRepository(str(db))
    await repo.open()
    app = App(config, repo, clock)
    await app.setup()
    total = 400

    async def write() -> None:
        for i in range(total):
            await app.process(IncomingMessage(
                id=f"w{i}", sender_id=f"r{i}", sender_name=f"居民{i}", at=clock.now(),
                text=f"需要修水管，阳光小区{i}栋，电话139{i:08d}", room_id="洗马社区第一网格群",
                room_topic="洗马社区第一网格群"))

    async def back_up() -> list[Path]:
        made = []
        for k in range(8):
            await asyncio.sleep(0)
            target = tmp_path / f"snap{k}.db"
            await asyncio.to_thread(backup_database, db, target, NOW)
            made.append(target)
        return made

    writer = asyncio.create_task(write())
    snaps = await back_up()
    await writer
    await repo.close()
    counts = []
    for snap in snaps:
        info = inspect(snap)
        n = info.orders
        counts.append(n)
        assert rows(snap, "SELECT COALESCE(MAX(last_no), 0) FROM counters") == [(n,)]
        assert rows(snap, "SELECT COUNT(*) FROM events WHERE kind = 'posted'") == [(n,)]
        assert rows(snap, "SELECT COUNT(*) FROM outbox") == [(n,)]
        assert rows(snap, "SELECT COUNT(*) FROM processed") == [(n,)]
    assert counts == sorted(counts) and 0 < counts[-1] <= total
    assert any(0 < n < total for n in counts), "at least one backup was taken in the middle of the writes"


async def test_restore_keeps_the_current_database_and_puts_the_backup_in_place(day_db, tmp_path):
    backup_database(day_db, tmp_path / "b.db", NOW)
    before = orders_of(day_db)
    conn = sqlite3.connect(str(day_db))
    conn.execute("UPDATE orders SET status = 'cancelled'")
    conn.commit()
    conn.close()
    changed = orders_of(day_db)
    info, kept = restore_database(tmp_path / "b.db", day_db, NOW)
    assert info.orders == 9 and orders_of(day_db) == before
    assert kept == day_db.with_name("linggong.db.before-restore-20261124-073000")
    assert orders_of(kept) == changed
    repo = SqliteRepository(str(day_db))
    await repo.open()  # the bot opens the restored database as usual
    async with repo.transaction() as tx:
        assert len(await tx.find_orders()) == 9
    await repo.close()


async def test_restore_into_a_missing_database(day_db, tmp_path):
    backup_database(day_db, tmp_path / "b.db", NOW)
    target = tmp_path / "new" / "linggong.db"
    info, kept = restore_database(tmp_path / "b.db", target, NOW)
    assert kept is None and orders_of(target) == orders_of(day_db)


def make_not_linggong(path: Path) -> None:
    conn = sqlite3.connect(str(path))
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()


def make_corrupt(path: Path, good: Path) -> None:
    """Break the b-tree page header of the audit log's table (the schema stays readable)."""
    (root,), = rows(good, "SELECT rootpage FROM sqlite_master WHERE name = 'events'")
    (size,), = rows(good, "PRAGMA page_size")
    data = bytearray(good.read_bytes())
    data[(root - 1) * size] = 0x7F  # not a valid page type
    path.write_bytes(bytes(data))


def make_newer(path: Path, good: Path) -> None:
    path.write_bytes(good.read_bytes())
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA user_version = 999")
    conn.close()


@pytest.mark.parametrize("make, message", [
    (lambda p, good: p.write_text("订单,状态\n1,done\n", encoding="utf-8"), "not a usable SQLite database"),
    (lambda p, good: make_not_linggong(p), "not a linggong database"),
    (make_corrupt, "damaged, PRAGMA integrity_check says"),
    (make_newer, "made by a newer linggong"),
    (lambda p, good: None, "no such backup file"),
], ids=["csv-file", "other-sqlite-database", "corrupt", "newer-schema", "missing"])
async def test_restore_refuses_bad_backups_and_changes_nothing(day_db, tmp_path, make, message):
    good = tmp_path / "good.db"
    backup_database(day_db, good, NOW)
    bad = tmp_path / "bad.db"
    make(bad, good)
    before = day_db.read_bytes()
    with pytest.raises(BackupError) as err:
        restore_database(bad, day_db, NOW)
    assert message in str(err.value)
    assert day_db.read_bytes() == before
    assert not list(day_db.parent.glob("*before-restore*"))


async def test_restore_refuses_while_the_bot_has_the_database_open(day_db, tmp_path):
    backup_database(day_db, tmp_path / "b.db", NOW)
    repo = SqliteRepository(str(day_db))
    await repo.open()
    try:
        with pytest.raises(BackupError) as err:
            restore_database(tmp_path / "b.db", day_db, NOW)
        assert "in use" in str(err.value) and "stop linggong first" in str(err.value)
        async with repo.transaction() as tx:
            assert len(await tx.find_orders()) == 9, "the running bot is undisturbed"
    finally:
        await repo.close()
    assert not list(day_db.parent.glob("*before-restore*"))


def test_backup_refuses_a_postgres_database():
    from storage.backup import sqlite_path

    with pytest.raises(BackupError) as err:
        sqlite_path("postgresql://bot@localhost/linggong")
    assert "pg_dump" in str(err.value)


async def test_backup_and_restore_commands(day_db, tmp_path):
    cli = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]
    done = subprocess.run([*cli, "backup", str(tmp_path / "cli.db"), "--db", str(day_db)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "9 个订单" in done.stdout and "完整性检查通过" in done.stdout
    done = subprocess.run([*cli, "restore", str(tmp_path / "cli.db"), "--db", str(day_db)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "before-restore" in done.stdout
    (tmp_path / "junk.db").write_text("junk", encoding="utf-8")
    done = subprocess.run([*cli, "restore", str(tmp_path / "junk.db"), "--db", str(day_db)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("错误：恢复没有完成：") and "junk.db" in done.stderr
