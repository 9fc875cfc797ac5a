"""The Repository contract.  Every backend runs this same class (see ``backend`` fixture)."""

from __future__ import annotations

import asyncio

import pytest

from storage.models import OutMessage
from storage.sqlite import SqliteRepository


@pytest.fixture(params=["sqlite"])
async def repo(request, tmp_path):
    backend = SqliteRepository(str(tmp_path / "contract.db"))
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
              "registered_at": 0.0}
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
                return await tx.claim_order(order.id, worker_id, 1005.0)

        results = await asyncio.gather(*(claim(w) for w in [a.id, b.id] * 50))
        assert results.count(True) == 1

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
            await tx.enqueue(OutMessage("late", room="m", mentions=("b",), coalesce_key="k"), 2.0)
            await tx.enqueue(OutMessage("other", room="m"), 3.0)
            pending = await tx.pending_outbox(10.0)
        assert [(p.text, p.mentions) for p in pending] == [("late", ("a", "b")), ("other", ())]
        async with repo.transaction() as tx:
            await tx.mark_sent(pending[0].id, 11.0)
            await tx.enqueue(OutMessage("late", room="m", mentions=("c",), coalesce_key="k"), 12.0)
            assert len(await tx.pending_outbox(20.0)) == 2

    async def test_a_message_about_to_be_sent_absorbs_nothing_more(self, repo):
        async with repo.transaction() as tx:
            await tx.enqueue(OutMessage("late", room="m", mentions=("a",), coalesce_key="k"), 1.0)
            (m,) = await tx.pending_outbox(10.0)
            await tx.enqueue(OutMessage("late", room="m", mentions=("b",), coalesce_key="k"), 2.0)
            assert await tx.close_coalescing(m.id) == ("a", "b")
            await tx.enqueue(OutMessage("late", room="m", mentions=("c",), coalesce_key="k"), 3.0)
            await tx.mark_sent(m.id, 4.0)
            assert await tx.close_coalescing(m.id) is None
            assert [p.mentions for p in await tx.pending_outbox(10.0)] == [("c",)]

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

    async def test_workers_by_wechat_or_name(self, repo):
        async with repo.transaction() as tx:
            w = await tx.add_worker(worker_values("熊明祥", wechat="wxid_x"))
            assert (await tx.find_worker("洗马社区", wechat="wxid_x")).id == w.id
            assert (await tx.find_worker("洗马社区", wechat="nobody", name="熊明祥")).id == w.id
            assert await tx.find_worker("茅草西社区", name="熊明祥") is None
            await tx.update_worker(w.id, {"status": "suspended", "skills": ("搬家配送",)})
            again = await tx.get_worker(w.id)
        assert again.status == "suspended" and again.skills == ("搬家配送",)

    async def test_events_in_order(self, repo):
        async with repo.transaction() as tx:
            order = await tx.insert_order(order_values("A", 1))
            await tx.add_event(order.id, "A", 1.0, "张阿姨", "posted")
            await tx.add_event(order.id, "A", 2.0, "杨先媚", "dispatched", "报酬80元")
            events = await tx.events_for(order.id)
        assert [e.kind for e in events] == ["posted", "dispatched"]


async def test_sqlite_migrations_are_recorded(tmp_path):
    repo = SqliteRepository(str(tmp_path / "m.db"))
    await repo.open()
    async with repo.transaction() as tx:
        async with tx.db.execute("PRAGMA user_version") as cur:
            (version,) = await cur.fetchone()
    await repo.close()
    assert version >= 1
