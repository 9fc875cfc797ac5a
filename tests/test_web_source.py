"""IncomingMessage.source: intake records where a need came from (chat by default, qr from the web form)."""

from __future__ import annotations

from dataclasses import replace

from tests.conftest import Chat

GRID1 = "洗马社区第一网格群"


async def test_a_chat_need_is_recorded_as_chat_and_a_qr_need_as_qr(chat: Chat) -> None:
    await chat.say(GRID1, "张阿姨", "需要修水管，阳光小区3栋2单元501室，电话13908521234")
    qr = replace(chat.message(GRID1, "qr:13908529999", "发单 家里灯坏了，地址：阳光小区5栋1单元201室，电话：13908529999"),
                 sender_name="扫码居民", source="qr")
    sent = await chat.send(qr)
    assert [s.room for s in sent] == [GRID1]
    assert "#2" in sent[0].text
    first, second = await chat.orders()
    assert (first.source, second.source) == ("chat", "qr")
    assert (second.grid, second.resident_name, second.phones) == ("第一网格", "扫码居民", ("13908529999",))
    async with chat.app.repo.transaction() as tx:
        events = await tx.events_for(second.id)
    assert [(e.kind, e.detail) for e in events] == [("posted", "source=qr")]
