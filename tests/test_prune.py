"""Pruning: sent replies after keep_sent_days, handled message ids after keep_processed_days, in
small batches, at most hourly; the audit log, orders and unsent replies are never touched."""

from __future__ import annotations

from bot.prune import BATCH, prune
from tests.conftest import Chat

GRID1 = "洗马社区第一网格群"
NEED = "发单 厨房水管漏水了，阳光小区3栋2单元501室，电话13908521234"


async def counts(chat: Chat) -> dict[str, int]:
    async with chat.repo.transaction() as tx:
        out = {}
        for name, sql in (("sent", "SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent'"),
                          ("pending", "SELECT COUNT(*) AS n FROM outbox WHERE status <> 'sent'"),
                          ("processed", "SELECT COUNT(*) AS n FROM processed"),
                          ("events", "SELECT COUNT(*) AS n FROM events"),
                          ("orders", "SELECT COUNT(*) AS n FROM orders")):
            out[name] = (await tx.fetch_one(sql))["n"]
        return out


async def test_old_sent_replies_and_handled_ids_go_the_rest_stays(chat: Chat, grid1) -> None:
    await grid1.say("张阿姨", NEED)
    await grid1.say("杨先媚", "派单1")
    old = await counts(chat)
    chat.clock.advance(days=8)  # past keep_processed_days (7), not keep_sent_days (30)
    await grid1.say("李大爷", "发单 家里跳闸了，插座没电，阳光小区4栋2单元1303室，电话13966083641")
    assert await prune(chat.app, force=True) == {"outbox": 0, "processed": 2}
    now = await counts(chat)
    assert now["processed"] == 1 and now["sent"] == old["sent"] + 1
    chat.clock.advance(days=23)  # the first replies are now 31 days old
    gone = await prune(chat.app, force=True)
    assert gone["outbox"] == old["sent"]
    after = await counts(chat)
    assert after["sent"] == 1 and after["events"] == now["events"] and after["orders"] == 2


async def test_a_backlog_goes_in_batches_and_runs_are_at_most_hourly(chat: Chat) -> None:
    at = chat.clock.now().timestamp()
    async with chat.repo.transaction() as tx:
        await tx.execute_many("INSERT INTO processed (message_id, at) VALUES (?, ?)",
                              [(f"old-{i}", at - 30 * 86400) for i in range(2 * BATCH + 7)])
    assert (await prune(chat.app))["processed"] == 2 * BATCH + 7
    assert await prune(chat.app) == {}  # within the hour: nothing to do
    chat.clock.advance(minutes=61)
    assert await prune(chat.app) == {"outbox": 0, "processed": 0}


async def test_the_prune_queries_read_an_index(chat: Chat) -> None:
    db = chat.repo._db
    for sql in ("SELECT message_id FROM processed WHERE at < 1 ORDER BY at LIMIT 500",
                "SELECT id FROM outbox WHERE status = 'sent' AND sent_at < 1 ORDER BY sent_at LIMIT 500"):
        plan = " ".join(str(r[-1]) for r in await db.execute_fetchall("EXPLAIN QUERY PLAN " + sql))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)
