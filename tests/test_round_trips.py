"""Round trips and transactions per message, counted (storage/stats.py), on both backends.

Targets (issue 15): a need's intake in at most 5 calls to the database, a winning claim in at
most 8, a delivered reply in at most 2 transactions; on SQLite the queued writes ride along with
the next statement, so the figures there are lower.  Counted, not timed: they hold on any machine.
"""

from __future__ import annotations

from datetime import datetime
import pytest

from bot.clock import FakeClock
from storage.sqlite import SqliteRepository
from tests.conftest import START, Chat
from tests.test_storage import pg_url, repo  # noqa: F401  (fixtures)

GRID1, MARKET = "洗马社区第一网格群", "洗马社区零工市场群"
NEED = "我家厨房水管漏水了，需要师傅来修一下，阳光小区3栋，电话13908521234"
LIMITS = {"intake": 5, "claim": 8}


@pytest.fixture
async def chat_on(repo, config):  # noqa: F811  (repo: test_storage's fixture, both backends)
    clock = FakeClock(datetime.strptime(START, "%Y-%m-%d %H:%M:%S"), config.tz)
    chat = Chat.wire(config, repo, clock)
    await chat.app.setup()
    return ("sqlite" if isinstance(repo, SqliteRepository) else "postgres"), chat


async def counted(chat: Chat, room: str, who: str, text: str) -> dict[str, int]:
    """The storage work of handling one message (its replies queued, not yet sent)."""
    before = chat.repo.stats.snapshot()
    await chat.app.process(chat.message(room, who, text))
    return chat.repo.stats.since(before)


async def test_intake_and_a_winning_claim_stay_within_their_round_trips(chat_on) -> None:
    backend, chat = chat_on
    await chat.say(GRID1, "张阿姨", "大家好")  # warm: the bindings are loaded once
    intake = await counted(chat, GRID1, "张阿姨", NEED)
    assert intake["transactions"] == 1 and intake["round_trips"] <= LIMITS["intake"], intake
    await chat.outbox.flush()
    await chat.say(GRID1, "杨先媚", "派单1")
    claim = await counted(chat, MARKET, "熊明祥", "接1")
    assert claim["transactions"] == 1 and claim["round_trips"] <= LIMITS["claim"], claim
    order = await chat.order(1)
    assert order.status == "taken" and order.taker.name == "熊明祥"
    if backend == "sqlite":  # BEGIN and the queued writes ride along: fewer calls than statements
        assert intake["round_trips"] <= 3 < intake["statements"], intake
        assert claim["round_trips"] <= 5 < claim["statements"], claim


async def test_a_delivered_reply_costs_two_transactions(chat_on) -> None:
    _, chat = chat_on
    await chat.outbox.flush()  # the first flush after a start looks for a send left in doubt
    await chat.app.process(chat.message(GRID1, "张阿姨", NEED))
    before = chat.repo.stats.snapshot()
    sent_before = len(chat.transport.sent)
    await chat.outbox.flush()
    spent = chat.repo.stats.since(before)
    delivered = len(chat.transport.sent) - sent_before
    assert delivered == 1
    # the claim (with the in-doubt mark) and mark-sent; the flush's last look (nothing more to
    # claim) is one more transaction for the whole flush, not per reply
    assert spent["transactions"] <= 2 * delivered + 1, spent


async def test_a_re_delivered_message_costs_one_statement_and_changes_nothing(chat_on) -> None:
    _, chat = chat_on
    message = chat.message(GRID1, "张阿姨", NEED)
    await chat.app.process(message)
    chat.app.processed = type(chat.app.processed)(chat.repo)  # a restarted process: nothing in memory
    before = chat.repo.stats.snapshot()
    await chat.app.process(message)
    spent = chat.repo.stats.since(before)
    assert spent["transactions"] == 1 and spent["round_trips"] <= 3, spent  # BEGIN, the gate, COMMIT at most
    assert len(await chat.orders()) == 1
