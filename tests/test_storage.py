"""The Repository contract.  Every backend runs this same class (see the ``repo`` fixture).

The PostgreSQL variants use the server at ``$LINGGONG_TEST_PG_URL``; without it they are
skipped, except under ``CI=true`` where a missing or unreachable server fails them.  Each
test gets a fresh schema of its own (dropped afterwards), so runs may repeat and overlap.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

from bot.config import load_config
from storage import backend_of, open_repository
from storage.migrations import for_dialect, load_migrations
from storage.models import Conversations, OutMessage
from storage.postgres import PostgresRepository, scratch_schema
from storage.sqlite import SqliteRepository

PG_URL_ENV = "LINGGONG_TEST_PG_URL"


async def _probe(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test server's URL, or a skip (a failure under CI=true) naming the variable."""
    url = os.environ.get(PG_URL_ENV)
    reason = None
    if not url:
        reason = f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
    else:
        with ThreadPoolExecutor(1) as pool:  # its own event loop, apart from the tests' loops
            try:
                pool.submit(asyncio.run, _probe(url)).result()
            except Exception as exc:  # refused, unknown host or database, bad URL, timeout
                reason = f"PostgreSQL at {PG_URL_ENV}={url} is unreachable: {exc}"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the PostgreSQL variants must run)")
        pytest.skip(reason)
    return url


def pg_schema(url: str):
    """A fresh schema for one test (storage.postgres.scratch_schema)."""
    return scratch_schema(url, "lg_test")


@pytest.fixture
async def pg_settings(pg_url):
    async with pg_schema(pg_url) as settings:
        yield settings


@pytest.fixture(params=["sqlite", "postgres"])
async def repo(request, tmp_path):
    if request.param == "sqlite":
        backend = SqliteRepository(str(tmp_path / "contract.db"))
        await backend.open()
        yield backend
        await backend.close()
        return
    url = request.getfixturevalue("pg_url")
    async with pg_schema(url) as settings:
        backend = PostgresRepository(url, server_settings=settings)
        await backend.open()
        yield backend
        await backend.close()


def order_values(community: str, no: int, **extra):
    values = {"community": community, "no": no, "grid": "第一网格", "source": "chat", "status": "posted",
              "raw_text": "修水管", "need_text": "修水管", "resident_id": "r", "resident_name": "张阿姨",
              "created_at": 1000.0, "phones": ("13900000000",)}
    values.update(extra)
    return values


def worker_values(name: str, **extra):
    values = {"community": "洗马社区", "name": name, "wechat": name, "phone": "13900000000",
              "skills": ("家电水电维修",), "team": None, "pledge_date": None, "status": "active",
              "registered_at": 0.0, "bound_at": 0.0}
    values.update(extra)
    return values


class TestRepositoryContract:
    async def test_order_numbers_are_per_community_and_gap_free(self, repo):
        async with repo.transaction() as tx:
            numbers = [await tx.next_order_no("A") for _ in range(3)] + [await tx.next_order_no("B")]
        assert numbers == [1, 2, 3, 1]

    async def test_rolled_back_transaction_leaves_nothing(self, repo):
        with pytest.raises(RuntimeError):
            async with repo.transaction() as tx:
                await tx.insert_order(order_values("A", await tx.next_order_no("A")))
                raise RuntimeError("boom")
        async with repo.transaction() as tx:
            assert await tx.find_orders() == []
            assert await tx.next_order_no("A") == 1

    async def test_order_round_trip(self, repo):
        async with repo.transaction() as tx:
            order = await tx.insert_order(order_values("A", 7))
            again = await tx.get_order("A", 7)
        assert again == order and again.phones == ("13900000000",)

    async def test_claim_is_decided_by_one_conditional_update(self, repo):
        async with repo.transaction() as tx:
            a = await tx.add_worker(worker_values("甲"))
            b = await tx.add_worker(worker_values("乙"))
            order = await tx.insert_order(order_values("洗马社区", 1, status="dispatched", dispatched_at=1000.0))

        async def claim(worker_id):
            async with repo.transaction() as tx:
                return await tx.claim_order(order.id, worker_id, 1005.0) is not None

        results = await asyncio.gather(*(claim(w) for w in [a.id, b.id] * 50))
        assert results.count(True) == 1

    async def test_the_claim_itself_enforces_the_worker_limit(self, repo):
        async with repo.transaction() as tx:
            w = await tx.add_worker(worker_values("甲"))
            orders = [await tx.insert_order(order_values("洗马社区", n, status="dispatched")) for n in (1, 2, 3)]
            assert await tx.claim_order(orders[0].id, w.id, 1.0, max_active=2)
            assert await tx.claim_order(orders[1].id, w.id, 2.0, max_active=2)
            assert not await tx.claim_order(orders[2].id, w.id, 3.0, max_active=2)
            assert (await tx.get_order_by_id(orders[2].id)).status == "dispatched"
            await tx.update_order(orders[0].id, {"status": "done"})
            assert await tx.claim_order(orders[2].id, w.id, 4.0, max_active=2)

    async def test_an_assignment_is_marked_and_a_claim_or_the_market_clears_it(self, repo):
        from storage.status import back_to_market

        async with repo.transaction() as tx:
            w = await tx.add_worker(worker_values("甲"))
            order = await tx.insert_order(order_values("洗马社区", 1, status="dispatched", dispatched_at=1000.0))
            await tx.update_order(order.id, {"status": "taken", "taker_id": w.id, "taken_at": 4600.0,
                                             "assigned_at": 4600.0})
            assigned = await tx.get_order_by_id(order.id)
            counts = await tx.tally_counts("洗马社区", 0.0, 10_000.0)
            durations = await tx.claim_durations("洗马社区", 0.0, 10_000.0)
            await tx.update_order(order.id, back_to_market(5000.0))
            back = await tx.get_order_by_id(order.id)
            assert await tx.claim_order(order.id, w.id, 5012.5, max_active=3)
            claimed = await tx.get_order_by_id(order.id)
            again = await tx.tally_counts("洗马社区", 0.0, 10_000.0)
            durations_again = await tx.claim_durations("洗马社区", 0.0, 10_000.0)
        assert assigned.assigned and assigned.assigned_at == 4600.0 and assigned.claim_seconds is None
        assert (counts["taken"], counts["assigned"]) == (0, 1) and durations == [("甲", None, True)]
        assert not back.assigned and back.taken_at is None
        assert not claimed.assigned and claimed.claim_seconds == 12.5
        assert (again["taken"], again["assigned"]) == (1, 0) and durations_again == [("甲", 12.5, False)]
        assert set(again) == {"posted", "dispatched", "taken", "assigned", "done", "cancelled"}

    async def test_ranking_rows_rank_claims_and_count_assignments_apart(self, repo):
        async with repo.transaction() as tx:
            w = await tx.add_worker(worker_values("甲"))
            for no, assigned, rating in ((1, False, 4), (2, True, 1), (3, True, None)):
                await tx.insert_order(order_values(
                    "洗马社区", no, status="done", taker_id=w.id, dispatched_at=1000.0, taken_at=1000.0 + 10 * no,
                    done_at=2000.0, rating=rating, assigned_at=1000.0 + 10 * no if assigned else None))
            (row,) = await tx.ranking_rows("洗马社区", 0.0, 10_000.0)
        assert (row["done"], row["assigned"], row["median_claim"], row["rating"]) == (1, 2, 10.0, 4.0)

    async def test_update_with_expected_status(self, repo):
        async with repo.transaction() as tx:
            order = await tx.insert_order(order_values("A", 1))
            assert not await tx.update_order(order.id, {"status": "done"}, expect_status=("taken",))
            assert await tx.update_order(order.id, {"status": "dispatched"}, expect_status=("posted",))

    async def test_processed_messages(self, repo):
        async with repo.transaction() as tx:
            assert not await tx.is_processed("m1")
            await tx.mark_processed("m1", 1.0)
        async with repo.transaction() as tx:
            assert await tx.is_processed("m1")

    async def test_outbox_coalesces_pending_messages_with_the_same_key(self, repo):
        async with repo.transaction() as tx:
            await tx.enqueue(OutMessage("late", room="m", mentions=("a",), coalesce_key="k"), 1.0)
            await tx.enqueue(OutMessage("late", room="m", mentions=("b", "a"), coalesce_key="k"), 2.0)
            await tx.enqueue(OutMessage("other", room="m"), 3.0)
        async with repo.transaction() as tx:
            claimed = await tx.claim_outbox("i1", 10.0, 30.0, limit=5, sending=True)
        assert [(c.text, c.mentions) for c in claimed] == [("late", ("a", "b")), ("other", ())]
        async with repo.transaction() as tx:
            await tx.mark_sent(claimed[0].id, 11.0)
            await tx.mark_sent(claimed[1].id, 11.0)
            rows = await tx.outbox_rows()
            assert [(r["status"], r["merged_into"]) for r in rows[:2]] == [("sent", None), ("sent", claimed[0].id)]
            await tx.enqueue(OutMessage("late", room="m", mentions=("c",), coalesce_key="k"), 12.0)
        async with repo.transaction() as tx:
            (again,) = await tx.claim_outbox("i1", 20.0, 30.0, limit=5, sending=True)
        assert again.mentions == ("c",), "a new notice after the first one went out"

    async def test_a_message_being_sent_takes_no_more_and_the_notices_are_capped(self, repo):
        async with repo.transaction() as tx:
            await tx.enqueue(OutMessage("late", room="m", mentions=("a",), coalesce_key="k", max_notices=2), 1.0)
            await tx.enqueue(OutMessage("late", room="m", mentions=("b",), coalesce_key="k", max_notices=2), 1.5)
        async with repo.transaction() as tx:
            (m,) = await tx.claim_outbox("i1", 10.0, 30.0, sending=True)
        assert m.mentions == ("a", "b") and m.sending_since == 10.0
        async with repo.transaction() as tx:  # on the wire: a new late claim starts a second notice
            await tx.enqueue(OutMessage("late", room="m", mentions=("c",), coalesce_key="k", max_notices=2), 11.0)
            await tx.mark_sent(m.id, 12.0)
        async with repo.transaction() as tx:
            (second,) = await tx.claim_outbox("i1", 20.0, 30.0, sending=True)
            await tx.mark_sent(second.id, 21.0)
        assert second.mentions == ("c",)
        async with repo.transaction() as tx:  # two went out: a third is not queued
            await tx.enqueue(OutMessage("late", room="m", mentions=("d",), coalesce_key="k", max_notices=2), 30.0)
            assert await tx.claim_outbox("i1", 40.0, 30.0, sending=True) == []
            # one that slipped in (its claimer counted before the second notice was claimed) is
            # folded into the last notice when a sender takes it, never sent
            await tx.enqueue(OutMessage("late", room="m", mentions=("e",), coalesce_key="k", max_notices=9), 41.0)
            await tx.execute("UPDATE outbox SET max_notices = 2 WHERE max_notices = 9")
            assert await tx.claim_outbox("i1", 42.0, 30.0, sending=True) == []
            rows = await tx.outbox_rows()
            assert (rows[-1]["status"], rows[-1]["merged_into"]) == ("sent", second.id)

    async def test_outbox_retry_and_give_up(self, repo):
        async with repo.transaction() as tx:
            await tx.enqueue(OutMessage("hi", contact="x"), 1.0)
            (m,) = await tx.pending_outbox(1.0)
            await tx.mark_retry(m.id, "down", 5.0, give_up=False)
            assert await tx.pending_outbox(4.0) == []
            (m,) = await tx.pending_outbox(5.0)
            assert m.attempts == 1
            await tx.mark_retry(m.id, "down", 9.0, give_up=True)
            assert await tx.pending_outbox(100.0) == []

    async def test_an_outbox_claim_holds_for_its_lease(self, repo):
        async with repo.transaction() as tx:
            await tx.enqueue(OutMessage("one", room="g"), 1.0)
            await tx.enqueue(OutMessage("two", room="g"), 1.0)
            (a,) = await tx.claim_outbox("A", 2.0, 10.0)
            (b,) = await tx.claim_outbox("B", 5.0, 10.0)  # A's claim holds: B gets the next one
            assert (a.text, b.text) == ("one", "two")
            assert await tx.claim_outbox("C", 11.9, 10.0) == []
            assert await tx.outbox_claims_end(11.9, "C") == 12.0  # when C should look again
            assert await tx.outbox_claims_end(11.9, "A") == 15.0  # (not counting its own claims)
            (again,) = await tx.claim_outbox("C", 12.5, 10.0)  # A's lease ran out (A died)
            assert again.id == a.id
            await tx.mark_sent(a.id, 12.6)
            await tx.release_outbox(b.id, "A")  # not A's: nothing happens
            assert await tx.claim_outbox("D", 12.7, 10.0) == []
            (own,) = await tx.claim_outbox("B", 12.7, 10.0)  # B (restarted, same name) takes its own back
            assert own.id == b.id
            await tx.release_outbox(b.id, "B")  # B could not send it: anyone may, at once
            (d,) = await tx.claim_outbox("D", 12.8, 10.0)
            await tx.mark_retry(d.id, "timeout", 13.0, give_up=False)  # a retry may go out anywhere
            (e,) = await tx.claim_outbox("E", 13.0, 10.0)
            rows = {r["text"]: r for r in await tx.outbox_rows()}
        assert d.id == e.id == b.id
        assert (rows["one"]["claimed_by"], rows["one"]["status"]) == ("C", "sent")

    async def test_an_outbox_claim_is_limited_to_what_the_instance_reaches(self, repo):
        async with repo.transaction() as tx:
            for out in (OutMessage("g1", room="g1"), OutMessage("g2", room="g2"), OutMessage("x", contact="x"),
                        OutMessage("y", contact="y"), OutMessage("g1 again", room="g1")):
                await tx.enqueue(out, 1.0)
            reach = Conversations(rooms=frozenset({"g1"}), contacts=frozenset({"x"}))
            mine = await tx.claim_outbox("A", 2.0, 10.0, reach, limit=10)
            assert [m.text for m in mine] == ["g1", "x", "g1 again"]
            nothing = Conversations()
            assert await tx.claim_outbox("B", 2.0, 10.0, nothing, limit=10, orphans_due_before=0.5) == []
            (orphan,) = await tx.claim_outbox("B", 2.0, 10.0, nothing, limit=10, orphans_due_before=1.0)
            assert orphan.text == "y"  # a contact nobody knows: tried once it is old enough; groups never
            assert [m.text for m in await tx.claim_outbox("C", 2.0, 10.0, limit=10)] == ["g2"]

    async def test_an_outbox_claim_skips_paced_conversations(self, repo):
        async with repo.transaction() as tx:
            for out in (OutMessage("g", room="g"), OutMessage("x", contact="x"), OutMessage("h", room="h"),
                        OutMessage("y", contact="y")):
                await tx.enqueue(out, 1.0)
            skip = Conversations(rooms=frozenset({"g"}), contacts=frozenset({"x"}))
            claimed = await tx.claim_outbox("A", 2.0, 10.0, limit=10, skip=skip)
        assert [m.text for m in claimed] == ["h", "y"]

    async def test_workers_by_wechat_or_name(self, repo):
        async with repo.transaction() as tx:
            w = await tx.add_worker(worker_values("熊明祥", wechat="wxid_x"))
            assert (await tx.find_worker("洗马社区", wechat="wxid_x")).id == w.id
            assert (await tx.find_worker("洗马社区", wechat="nobody", name="熊明祥")).id == w.id
            assert await tx.find_worker("茅草西社区", name="熊明祥") is None
            await tx.update_worker(w.id, {"status": "suspended", "skills": ("搬家配送",)})
            again = await tx.get_worker(w.id)
        assert again.status == "suspended" and again.skills == ("搬家配送",)

    async def test_add_worker_if_absent_keeps_the_first(self, repo):
        async with repo.transaction() as tx:
            assert await tx.add_worker_if_absent(worker_values("熊明祥", phone="13900000001"))
            assert not await tx.add_worker_if_absent(worker_values("熊明祥", phone="13900000002"))
            assert await tx.add_worker_if_absent(worker_values("熊明祥", community="茅草西社区"))
            (w,) = [w for w in await tx.list_workers("洗马社区")]
        assert w.phone == "13900000001"

    async def test_events_in_order(self, repo):
        async with repo.transaction() as tx:
            order = await tx.insert_order(order_values("A", 1))
            await tx.add_event(order.id, "A", 1.0, "张阿姨", "posted")
            await tx.add_event(order.id, "A", 2.0, "杨先媚", "dispatched", "报酬80元")
            events = await tx.events_for(order.id)
        assert [e.kind for e in events] == ["posted", "dispatched"]


    async def test_job_runs_once_per_period(self, repo):
        async with repo.transaction() as tx:
            assert await tx.claim_job_run("daily_tally", "A", "2026-11-23", 10.0, 11.0, False)
            assert not await tx.claim_job_run("daily_tally", "A", "2026-11-23", 10.0, 12.0, True)
            assert await tx.claim_job_run("daily_tally", "B", "2026-11-23", 10.0, 12.0, True)
            runs = await tx.job_runs("daily_tally")
        assert [(r["community"], r["ran_at"], r["late"]) for r in runs] == [("A", 11.0, 0), ("B", 12.0, 1)]

    async def test_meta(self, repo):
        async with repo.transaction() as tx:
            assert await tx.get_meta("first_start") is None
            await tx.set_meta("first_start", "1.5")
            await tx.set_meta("first_start", "2.5")
            assert await tx.get_meta("first_start") == "2.5"
            assert await tx.setdefault_meta("first_start", "9") == "2.5"
            assert await tx.setdefault_meta("other", "7") == "7" == await tx.get_meta("other")

    async def test_types_match_the_models(self, repo):
        async with repo.transaction() as tx:
            w = await tx.add_worker(worker_values("甲", registered_at=5))
            order = await tx.insert_order(order_values("A", 1, created_at=1000, rating=4))
            await tx.update_order(order.id, {"dispatched_at": 1001.25, "escalation_level": 2})
            again = await tx.get_order_by_id(order.id)
            await tx.enqueue(OutMessage("hi", room="m", fallback={"room": "g", "text": "x"}), 3)
            (out,) = await tx.pending_outbox(3.0)
        assert isinstance(w.id, int) and isinstance(w.registered_at, float)
        assert isinstance(again.created_at, float) and again.dispatched_at == 1001.25
        assert isinstance(again.no, int) and again.rating == 4 and again.escalation_level == 2
        assert out.fallback == {"room": "g", "text": "x"} and isinstance(out.created_at, float)

    async def test_orders_sort_by_code_point_across_communities(self, repo):
        async with repo.transaction() as tx:
            for community in ("茅草西社区", "洗马社区", "Zunyi", "a"):
                await tx.insert_order(order_values(community, 1))
            await tx.insert_order(order_values("洗马社区", 2))
            found = [(o.community, o.no) for o in await tx.find_orders()]
        assert found == sorted(found)


def test_postgres_spelling_of_the_migrations():
    sql = for_dialect("CREATE TABLE t (id INTEGER PRIMARY KEY, n integer, at REAL, b BLOB, "
                      "note TEXT DEFAULT 'INTEGER REAL'); -- REAL stays in comments\n", "postgresql")
    assert sql == ("CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, "
                   "at DOUBLE PRECISION, b BYTEA, note TEXT DEFAULT 'INTEGER REAL'); -- REAL stays in comments\n")
    assert for_dialect("CREATE TABLE t (x REAL);", "sqlite") == "CREATE TABLE t (x REAL);"


def test_dialect_blocks():
    text = "A;\n-- dialect: postgresql\nB;\n-- dialect: sqlite\nC;\n-- dialect: all\nD;\n"
    assert for_dialect(text, "postgresql") == "A;\nB;\nD;\n"
    assert for_dialect(text, "sqlite") == "A;\nC;\nD;\n"
    with pytest.raises(ValueError):
        for_dialect("-- dialect: mysql\n", "sqlite")


def test_every_migration_has_both_spellings():
    sqlite, postgres = load_migrations("sqlite"), load_migrations("postgresql")
    assert [n for n, _, _ in sqlite] == [n for n, _, _ in postgres] == list(range(1, len(sqlite) + 1))
    assert all(" REAL" not in sql.split("--")[0] for _, _, sql in postgres)


async def test_sqlite_migrations_are_recorded(tmp_path):
    repo = SqliteRepository(str(tmp_path / "m.db"))
    await repo.open()
    async with repo.transaction() as tx:
        async with tx.db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
    await repo.close()
    assert version >= 1


async def test_postgres_migrations_are_recorded(pg_url, pg_settings):
    repo = PostgresRepository(pg_url, server_settings=pg_settings)
    await repo.open()
    async with repo.transaction() as tx:
        rows = await tx.fetch_all("SELECT version, name FROM schema_version ORDER BY version")
    await repo.close()
    again = PostgresRepository(pg_url, server_settings=pg_settings)
    await again.open()
    await again.close()
    assert [(r["version"], r["name"]) for r in rows] == [(n, name) for n, name, _ in load_migrations()]
    assert repo.applied == [n for n, _, _ in load_migrations()] and again.applied == []


async def test_open_repository_picks_the_backend_from_the_url(tmp_path, monkeypatch):
    assert [backend_of(u) for u in ("data/x.db", "sqlite:///data/x.db", "postgres://h/db", "postgresql://h/db")] \
        == ["sqlite", "sqlite", "postgresql", "postgresql"]
    repo = await open_repository(f"sqlite:///{tmp_path / 'x.db'}")
    await repo.close()
    assert isinstance(repo, SqliteRepository) and (tmp_path / "x.db").is_file()
    monkeypatch.setenv("LINGGONG_DATABASE", "postgresql://linggong@db/linggong")
    assert load_config().bot.database == "postgresql://linggong@db/linggong"
    monkeypatch.delenv("LINGGONG_DATABASE")
    assert load_config().bot.database == "data/linggong.db"


async def test_open_repository_opens_postgres(pg_url, tmp_path):
    async with pg_schema(pg_url) as settings:
        repo = await open_repository(pg_url + ("&" if "?" in pg_url else "?") + f"search_path={settings['search_path']}")
        async with repo.transaction() as tx:
            assert await tx.next_order_no("A") == 1
        await repo.close()
    assert isinstance(repo, PostgresRepository)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migration_009_finds_the_assigned_orders_in_the_audit_log(backend, request, tmp_path):
    """Orders taken before migration 009 get ``assigned_at`` from their events: assigned when the
    last of their taken / assigned / released / redispatched events is 'assigned'."""
    import contextlib

    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            def make():
                return SqliteRepository(str(tmp_path / "old.db"))
        else:
            url = request.getfixturevalue("pg_url")
            settings = await stack.enter_async_context(pg_schema(url))

            def make():
                return PostgresRepository(url, server_settings=settings)
        histories = {  # order no -> its events, and whether it is taken now
            1: (["taken"], True),
            2: (["assigned"], True),
            3: (["assigned", "redispatched", "taken"], True),
            4: (["taken", "released", "assigned", "done"], True),
            5: (["assigned", "redispatched"], False),
            6: (["assigned", "done", "rated"], True),
        }
        repo = make()
        await repo.open()
        try:
            async with repo.transaction() as tx:  # back to the schema migration 008 left
                await tx.execute("DROP INDEX processed_at")  # (and undo 010 and 011, which come after)
                await tx.execute("DROP INDEX orders_followup")
                await tx.execute("DROP INDEX orders_unreminded")
                await tx.execute("DROP INDEX outbox_notice_group")
                await tx.execute("DROP INDEX outbox_merged")
                for column in ("sending_since", "bulk", "merged_into", "notice_group", "mention_cap", "more_text",
                               "max_notices"):
                    await tx.execute(f"ALTER TABLE outbox DROP COLUMN {column}")
                await tx.execute("DROP INDEX outbox_sent")
                await tx.execute("DROP INDEX orders_taken_how")
                await tx.execute("CREATE INDEX orders_taken ON orders (community, taken_at)")
                await tx.execute("ALTER TABLE orders DROP COLUMN assigned_at")
                if backend == "sqlite":
                    await tx.execute("PRAGMA user_version = 8")
                else:
                    await tx.execute("DELETE FROM schema_version WHERE version >= 9")
            async with repo.transaction() as tx:
                w = await tx.add_worker(worker_values("甲"))
                for no, (kinds, taken) in histories.items():
                    order = await tx.insert_order(order_values(
                        "洗马社区", no, status="taken" if taken else "dispatched", dispatched_at=1000.0,
                        taker_id=w.id if taken else None, taken_at=1000.0 + no if taken else None))
                    for i, kind in enumerate(kinds):
                        await tx.add_event(order.id, "洗马社区", 1000.0 + i, "杨先媚", kind)
        finally:
            await repo.close()
        again = make()
        await again.open()
        try:
            async with again.transaction() as tx:
                orders = {o.no: o for o in await tx.find_orders("洗马社区")}
        finally:
            await again.close()
    assert {no: o.assigned for no, o in orders.items()} == {1: False, 2: True, 3: False, 4: True, 5: False, 6: True}
    assert orders[2].assigned_at == orders[2].taken_at == 1002.0 and orders[2].claim_seconds is None
    assert orders[3].claim_seconds == 3.0
