"""PostgreSQL with several bot instances: two pools on one schema stand for two processes.

Runs only with ``$LINGGONG_TEST_PG_URL`` (see tests/test_storage.py for the skip rules).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime

import pytest

from bot.clock import FakeClock
from storage.migrations import load_migrations
from storage.models import OutMessage
from storage.postgres import PostgresRepository
from tests.conftest import START, Chat, to_contact, to_room, pid
from tests.test_storage import order_values, pg_schema, pg_url, worker_values  # noqa: F401  (pg_url: fixture)

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234"


@pytest.fixture
async def schema(pg_url):
    async with pg_schema(pg_url) as settings:
        yield settings


@pytest.fixture
async def two(pg_url, schema):
    """Two repositories with separate pools on one schema: two instances of the bot."""
    repos = [PostgresRepository(pg_url, server_settings=schema, max_size=8) for _ in range(2)]
    for repo in repos:
        await repo.open()
    yield repos
    for repo in repos:
        await repo.close()


async def test_claim_storm_from_two_instances_has_one_winner(two):
    a, b = two
    async with a.transaction() as tx:
        workers = [await tx.add_worker(worker_values(f"工{i}", wechat=f"w{i}")) for i in range(300)]
        order = await tx.insert_order(order_values("洗马社区", 1, status="dispatched", dispatched_at=1000.0))

    async def claim(repo, worker_id):
        async with repo.transaction() as tx:
            return await tx.claim_order(order.id, worker_id, 1005.0) is not None

    results = await asyncio.gather(*(claim(two[i % 2], w.id) for i, w in enumerate(workers)))
    assert results.count(True) == 1
    winner = workers[results.index(True)]
    async with b.transaction() as tx:
        again = await tx.get_order_by_id(order.id)
    assert again.status == "taken" and again.taker_id == winner.id and again.taken_at == 1005.0


async def test_one_worker_claiming_many_orders_on_two_instances_stays_within_the_limit(two):
    async with two[0].transaction() as tx:
        worker = await tx.add_worker(worker_values("熊明祥"))
        orders = [await tx.insert_order(order_values("洗马社区", n, status="dispatched", dispatched_at=1000.0))
                  for n in range(1, 21)]

    async def claim(repo, order_id):
        async with repo.transaction() as tx:
            won = await tx.claim_order(order_id, worker.id, 1005.0, max_active=3) is not None
            await asyncio.sleep(0.001)  # the rest of the message's transaction
            return won

    results = await asyncio.gather(*(claim(two[i % 2], o.id) for i, o in enumerate(orders)))
    async with two[1].transaction() as tx:
        taken = await tx.find_orders(statuses=("taken",), taker_id=worker.id)
    assert results.count(True) == len(taken) == 3


async def test_concurrent_intake_from_two_instances_numbers_without_gaps(two):
    async def intake(repo, community, i):
        async with repo.transaction() as tx:
            no = await tx.next_order_no(community)
            await asyncio.sleep(0)  # let the other instance's transactions interleave
            await tx.insert_order(order_values(community, no, raw_text=f"need {i}"))
            if i % 10 == 3:
                raise LookupError("rolled back: the number is given back")

    jobs = [intake(two[i % 2], ("A", "B")[i % 3 == 0], i) for i in range(240)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert all(r is None or isinstance(r, LookupError) for r in results)
    async with two[0].transaction() as tx:
        for community in ("A", "B"):
            numbers = [o.no for o in await tx.find_orders(community)]
            committed = sum(1 for i, r in enumerate(results) if r is None and ("A", "B")[i % 3 == 0] == community)
            assert numbers == list(range(1, committed + 1))


async def test_a_periodic_report_is_claimed_by_one_instance(two):
    async def claim(repo, n):
        async with repo.transaction() as tx:
            return await tx.claim_job_run("daily_tally", "洗马社区", "2026-11-23", 100.0, 100.0 + n, False)

    results = await asyncio.gather(*(claim(two[n % 2], n) for n in range(60)))
    assert results.count(True) == 1
    async with two[1].transaction() as tx:
        assert len(await tx.job_runs("daily_tally")) == 1


async def test_outbox_coalescing_across_instances(two):
    async def late(repo, n):
        async with repo.transaction() as tx:
            await tx.enqueue(OutMessage("#1 已被接走", room=MARKET, mentions=(f"w{n}",), coalesce_key="late:1"), 1.0)

    await asyncio.gather(*(late(two[n % 2], n) for n in range(100)))
    async with two[0].transaction() as tx:
        (pending,) = await tx.claim_outbox("i1", 2.0, 30.0, limit=5, sending=True)
    assert sorted(pending.mentions) == sorted(f"w{n}" for n in range(100))


async def test_outbox_messages_are_claimed_once_across_instances(two):
    async with two[0].transaction() as tx:
        for n in range(200):
            await tx.enqueue(OutMessage(f"m{n}", room=f"g{n % 7}"), 1.0)

    async def sender(repo, name):
        mine = []
        while True:
            async with repo.transaction() as tx:
                claimed = await tx.claim_outbox(name, 2.0, 60.0, limit=3)
            if not claimed:
                return mine
            mine += [m.id for m in claimed]
            async with repo.transaction() as tx:  # sent
                for m in claimed:
                    await tx.mark_sent(m.id, 2.5)

    results = await asyncio.gather(*(sender(two[i % 2], f"i{i}") for i in range(6)))
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 200
    assert sum(1 for r in results if r) > 1  # they really competed


async def test_two_instances_starting_together_migrate_once(pg_url, schema):
    repos = [PostgresRepository(pg_url, server_settings=schema) for _ in range(4)]
    await asyncio.gather(*(r.open() for r in repos))
    try:
        applied = [r.applied for r in repos]
        async with repos[0].transaction() as tx:
            versions = await tx.fetch_all("SELECT version FROM schema_version ORDER BY version")
    finally:
        await asyncio.gather(*(r.close() for r in repos))
    everything = [n for n, _, _ in load_migrations()]
    assert sorted(applied) == [[], [], [], everything]
    assert [v["version"] for v in versions] == everything


# the app, unchanged, on PostgreSQL ---------------------------------------------------------

async def _app(config, pg_url, schema, *, setup: bool = True) -> Chat:
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    repo = PostgresRepository(pg_url, server_settings=schema)
    await repo.open()
    chat = Chat.wire(config, repo, clock)
    if setup:
        await chat.app.setup()
    return chat


@pytest.fixture
async def chats(config, pg_url, schema):
    """Two bot instances on one PostgreSQL schema (set up one after the other)."""
    pair = [await _app(config, pg_url, schema), await _app(config, pg_url, schema)]
    yield pair
    for chat in pair:
        await chat.app.repo.close()


async def test_instances_starting_together_seed_the_roster_once(config, pg_url, schema):
    chats = await asyncio.gather(*(_app(config, pg_url, schema, setup=False) for _ in range(4)))
    try:
        await asyncio.gather(*(chat.app.setup() for chat in chats))  # no UniqueViolation
        async with chats[0].app.repo.transaction() as tx:
            workers = await tx.list_workers()
    finally:
        for chat in chats:
            await chat.app.repo.close()
    seeds = [(c.name, w.name) for c in config.communities for w in c.workers]
    assert sorted((w.community, w.name) for w in workers) == sorted(seeds)


async def test_the_order_loop_runs_unchanged_on_postgres(chats):
    chat = chats[0]
    grid1, market = chat.group(GRID1), chat.group(MARKET)
    ack = await grid1.say("张阿姨", NEED)
    assert "#1" in ack[0].text and ack[0].mentions == (pid("张阿姨"),)
    card = to_room(await grid1.say("杨先媚", "派单 1 报酬80元"), MARKET)
    assert len(card) == 1 and "13908521234" not in card[0].text
    chat.clock.advance(5)
    sent = await market.say("熊明祥", "接1")
    assert "用时 5 秒" in to_room(sent, MARKET)[0].text and to_contact(sent, "熊明祥")
    chat.clock.advance(3600)
    assert "满意1" in to_room(await market.say("熊明祥", "完成1"), GRID1)[0].text
    await grid1.say("张阿姨", "满意1")
    order = await chat.order(1)
    assert (order.status, order.rating, order.taker.name, order.claim_seconds) == ("done", 5, "熊明祥", 5.0)
    async with chat.app.repo.transaction() as tx:
        kinds = [e.kind for e in await tx.events_for(order.id)]
    assert kinds[0] == "posted" and "taken" in kinds and "done" in kinds
    assert "今日" in (await chat.say(None, "杨先媚", "今日统计"))[0].text


async def test_a_message_seen_by_two_instances_is_handled_once(chats, caplog):
    message = chats[0].message(GRID1, "张阿姨", NEED, msg_id="wx-42")
    await asyncio.gather(*(chat.app.process(message) for chat in chats))
    for chat in chats:
        await chat.outbox.flush()
    assert [o.no for o in await chats[1].orders()] == [1]
    acks = [s for chat in chats for s in chat.transport.sent]
    assert len(acks) == 1 and "#1" in acks[0].text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_claim_storm_through_two_app_instances(chats):
    first = chats[0]
    await first.group(GRID1).say("张阿姨", NEED)
    await first.group(GRID1).say("杨先媚", "派单 1")
    async with first.app.repo.transaction() as tx:
        for i in range(300):
            await tx.add_worker(worker_values(f"工{i}", wechat=f"w{i}", skills=()))
    messages = [first.message(MARKET, f"工{i}", "接1", sender_id=f"w{i}") for i in range(300)]  # one id sequence
    await asyncio.gather(*(chats[i % 2].app.process(m) for i, m in enumerate(messages)))
    for chat in chats:  # one after the other: outbox sharing between live instances is not this test's subject
        await chat.outbox.flush()
    sent = [s for chat in chats for s in chat.transport.sent]
    won = [s for s in sent if s.room == MARKET and "接走，用时" in s.text]
    late = [s for s in sent if "已被" in s.text]
    order = await first.order(1)
    assert order.status == "taken" and len(won) == 1 and order.taker.wechat in won[0].mentions
    # one notice: 20 @ (what a WeChat message carries well), the other 279 late claimers counted
    assert len(late) == 1 and len(late[0].mentions) == 20 and "另有 279 位师傅也报了名" in late[0].text
    async with first.app.repo.transaction() as tx:
        assert [e.kind for e in await tx.events_for(order.id)].count("taken") == 1


async def _flush_all(chats) -> list:
    for chat in chats:
        await chat.outbox.flush()
    return [s for chat in chats for s in chat.transport.sent]


async def test_two_instances_sweeping_together_act_once(chats, tmp_path):
    from bot.schedule.jobs import run_report, sweep

    first = chats[0]
    grid1 = first.group(GRID1)
    xima = first.app.config.communities[0]
    for _ in range(3):
        await grid1.say("张阿姨", NEED)
    for no in (1, 2, 3):
        await grid1.say("杨先媚", f"派单{no}")
    await first.group(MARKET).say("熊明祥", "接2")
    await first.group(MARKET).say("韩德明", "接3")
    await first.group(MARKET).say("韩德明", "完成3")
    before = len(await _flush_all(chats))

    async def both(minutes: float) -> list:
        for chat in chats:
            chat.clock.advance(minutes * 60)
        for _ in range(3):  # several rounds, both instances at once
            await asyncio.gather(*(sweep(chat.app, xima) for chat in chats))
        return (await _flush_all(chats))[before:]

    sent = await both(11)  # #1 unclaimed for 11 minutes
    assert len([s for s in sent if "【急单 #1" in s.text]) == 1
    sent = await both(20)  # 31 minutes: the admins are told, once
    assert len([s for s in sent if s.contact == pid("糜伶")]) == 1
    sent = await both(24 * 60)  # #2 taken a day ago: one reminder to its taker; #3's follow-up, once
    assert len([s for s in sent if s.contact == pid("熊明祥")]) == 1
    assert len([s for s in sent if "#3" in s.text and s.room == GRID1]) == 1
    async with first.app.repo.transaction() as tx:
        kinds = [e.kind for o in await tx.find_orders() for e in await tx.events_for(o.id)]
    assert (kinds.count("escalated"), kinds.count("stale_reminded"), kinds.count("followup")) == (2, 1, 1)

    # the daily tally due on both at once: one post
    community = replace(xima, schedule=replace(xima.schedule, export_dir=str(tmp_path / "exports")))
    due = chats[0].clock.now()
    start = len(await _flush_all(chats))
    posted = await asyncio.gather(*(run_report(chat.app, "daily_tally", community, due) for chat in chats))
    tallies = [s for s in (await _flush_all(chats))[start:] if s.room == MARKET and "接单统计" in s.text]
    assert sorted(posted) == [False, True] and len(tallies) == 1


async def test_each_instance_sends_what_its_account_reaches_and_takes_over_a_dead_ones_claims(chats):
    a, b = chats
    for chat, rooms, contacts in ((a, {GRID1, MARKET}, {"熊明祥"}), (b, {MARKET, "茅草西社区零工市场群"}, set())):
        chat.app.scope.rooms, chat.app.scope.contacts = frozenset(rooms), frozenset(contacts)
        chat.outbox.scope = chat.app.scope  # instances sharing the database: sends limited to their reach
    messages = [OutMessage("grid", room=GRID1), OutMessage("market", room=MARKET), OutMessage("dm", contact="熊明祥"),
                OutMessage("maocao", room="茅草西社区零工市场群"), OutMessage("nobody's group", room="别的群")]
    async with a.app.repo.transaction() as tx:
        for m in messages * 10:
            await tx.enqueue(m, a.clock.now().timestamp())
    await asyncio.gather(a.outbox.flush(), b.outbox.flush())
    by_a = [(s.room or s.contact) for s in a.transport.sent]
    by_b = [(s.room or s.contact) for s in b.transport.sent]
    assert sorted(by_a + by_b) == sorted([GRID1, MARKET, "熊明祥", "茅草西社区零工市场群"] * 10)
    assert set(by_a) <= {GRID1, MARKET, "熊明祥"} and set(by_b) <= {MARKET, "茅草西社区零工市场群"}
    async with a.app.repo.transaction() as tx:
        (left,) = {r["text"] for r in await tx.outbox_rows() if r["status"] == "pending"}
    assert left == "nobody's group"  # waits for an instance in that group

    # A claims a message and dies before sending it; B, in the same group, sends it after the lease
    async with a.app.repo.transaction() as tx:
        await tx.enqueue(OutMessage("A's last words", room=MARKET), a.clock.now().timestamp())
        (claimed,) = await tx.claim_outbox(a.outbox.instance, a.clock.now().timestamp(),
                                           a.app.config.outbox.lease, a.outbox.reach)
    b.transport.sent.clear()
    await b.outbox.flush()
    assert b.transport.sent == []
    b.clock.advance(a.app.config.outbox.lease + 1)
    await b.outbox.flush()
    assert [s.text for s in b.transport.sent] == ["A's last words"]
