"""``linggong migrate``: a SQLite file into a shared database, idempotently, counts checked.

The target is PostgreSQL (with ``$LINGGONG_TEST_PG_URL``) and, so the logic is covered on
every machine, another SQLite file.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import asdict

import pytest

from bot.cli import main
from bot.cli.demo import SCRIPT
from bot.replay import replay_file
from storage import open_repository
from storage.migrate import MigrationError, migrate
from storage.models import OutMessage
from tests.test_storage import order_values, pg_schema, pg_url  # noqa: F401  (pg_url: fixture)


async def build_source(config, path: str) -> str:
    """The demo morning replayed into a SQLite file, plus rows a real file gathers over time."""
    await replay_file(config, SCRIPT, path)
    repo = await open_repository(path)
    async with repo.transaction() as tx:
        no = await tx.next_order_no("茅草西社区")
        order = await tx.insert_order(order_values("茅草西社区", no, grid="一网格"))
        for _ in range(2):  # two identical events are both kept
            await tx.add_event(order.id, "茅草西社区", 5.0, "网格员", "note", "same")
        await tx.add_event(None, "茅草西社区", 6.0, "bot", "dm_fallback", "outbox 1: offline")
        await tx.claim_job_run("daily_tally", "洗马社区", "2026-11-22", 1.0, 2.0, True)
        await tx.enqueue(OutMessage("稍后发送", room="洗马社区零工市场群"), 9e9)
        await tx.set_meta("note", "from sqlite")
    await repo.close()
    return path


@pytest.fixture
async def source(config, tmp_path):
    return await build_source(config, str(tmp_path / "source.db"))


@pytest.fixture(params=["sqlite", "postgres"])
async def target(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    url = request.getfixturevalue("pg_url")
    async with pg_schema(url) as settings:
        yield url + ("&" if "?" in url else "?") + f"search_path={settings['search_path']}"


async def snapshot(database: str) -> dict[str, list]:
    """Everything that should survive the move, without the database's own ids."""
    repo = await open_repository(database)
    async with repo.transaction() as tx:
        orders = await tx.find_orders()
        data = {
            "orders": [{**asdict(o), "id": None, "taker_id": None, "taker": o.taker.name if o.taker else None}
                       for o in orders],
            "events": [(o.community, o.no, e.at, e.actor, e.kind, e.detail)
                       for o in orders for e in await tx.events_for(o.id)],
            "workers": [{**asdict(w), "id": None} for w in await tx.list_workers()],
            "outbox": [{k: v for k, v in r.items() if k != "id"} for r in await tx.outbox_rows()],
            "job_runs": await tx.job_runs(),
            "next": [await tx.next_order_no("洗马社区"), await tx.next_order_no("茅草西社区")],
        }
    await repo.close()
    return data


async def test_migrate_twice_copies_once_and_counts_match(source, target):
    progress = io.StringIO()
    first = await migrate(source, target, progress=progress)
    second = await migrate(source, target, progress=progress)
    tables = ["workers", "orders", "events", "counters", "processed", "outbox", "job_runs", "meta", "intake_labels", "bindings", "bind_codes"]
    assert [r.table for r in first] == tables
    assert all(r.source == r.inserted == r.target for r in first), first
    assert all(r.inserted == 0 and r.source == r.target for r in second), second
    assert {r.table: r.source for r in first}["events"] > 20
    assert "orders        [" in progress.getvalue() and "\n" in progress.getvalue()
    assert await snapshot(target) == await snapshot(source)


async def test_a_target_that_already_has_rows_fails_the_check_and_keeps_nothing(source, target):
    repo = await open_repository(target)
    async with repo.transaction() as tx:
        await tx.insert_order(order_values("洗马社区", 999))
    await repo.close()
    with pytest.raises(MigrationError, match=r"orders: \d+ rows in the source, \d+ in the target .*already"):
        await migrate(source, target, progress=None)
    repo = await open_repository(target)
    async with repo.transaction() as tx:
        assert [o.no for o in await tx.find_orders()] == [999] and await tx.list_workers() == []
    await repo.close()


async def test_bad_sources_and_targets_are_refused(config, tmp_path, target):
    with pytest.raises(MigrationError, match="no SQLite file"):
        await migrate(str(tmp_path / "missing.db"), target, progress=None)
    with pytest.raises(MigrationError, match="must be a SQLite file"):
        await migrate("postgresql://x@y/z", target, progress=None)
    with pytest.raises(MigrationError, match=r"cannot open postgresql://lg:\*\*\*@127.0.0.1:1/x"):
        await migrate(await build_source(config, str(tmp_path / "s.db")), "postgresql://lg:secret@127.0.0.1:1/x",
                      progress=None)


def test_the_migrate_command(config, tmp_path, capsys):
    source = asyncio.run(build_source(config, str(tmp_path / "source.db")))
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert main(["migrate", "--from", f"sqlite:///{source}", "--to", target]) == 0
    assert main(["migrate", "--from", source, "--to", target]) == 0
    out, err = capsys.readouterr()
    assert "这次复制        0 行" in out and out.count("  一致\n") == 22
    assert "workers       [##############################]" in err
    assert main(["migrate", "--from", source, "--to", source]) == 1
    assert "same database" in capsys.readouterr().err


def test_migrate_without_from_brings_the_schema_up_to_date(tmp_path, capsys):
    from storage.migrations import load_migrations

    latest = load_migrations()[-1][0]
    target = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert main(["migrate", "--to", target]) == 0
    assert main(["migrate", "--to", target]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith(f"数据库结构版本 {latest:03d}（这次升级了 "
                          + "、".join(f"{n:03d}" for n in range(1, latest + 1)) + "）")
    assert second.endswith("（已是最新）")
    assert main(["migrate", "--to", "postgresql://lg:secret@127.0.0.1:1/x"]) == 1
    err = capsys.readouterr().err
    assert "cannot open postgresql://lg:***@127.0.0.1:1/x" in err and "secret" not in err


async def test_migrate_without_from_on_either_backend(target):
    from storage.migrate import upgrade

    first, second = await upgrade(target), await upgrade(target)
    assert first[1] == list(range(1, first[0] + 1)) and second == (first[0], [])
