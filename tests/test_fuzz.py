"""Property tests: no text from anyone, anywhere, ever makes app.process raise or misbehave."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.transport import IncomingMessage

ROOMS = [None, "洗马社区第一网格群", "洗马社区零工市场群", "茅草西一网格群", "不认识的群"]
PEOPLE = ["张阿姨", "杨先媚", "熊明祥", "糜伶", "田慧", "陌生人", "", "a" * 300]
WORDS = ["接", "派单", "完成", "取消", "评价", "满意", "不满意", "查", "指派", "改派", "放弃", "登记", "通过",
         "停用", "代发单", "发单", "#", "＃", "１２", "0012", "{{7*7}}", "'; DROP TABLE orders;--", "\x00",
         "\u2005", "😀", "需要修水管", "电话13908521234", "阳光小区3栋2单元501室", "99999999999999999999"]
texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map("".join),
    st.builds(lambda w, n: f"{w}{n}", st.sampled_from(WORDS), st.integers(-5, 10**30)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(room=st.sampled_from(ROOMS), who=st.sampled_from(PEOPLE), text=texts,
       quote=st.one_of(st.none(), st.text(max_size=50)))
async def test_any_message_is_handled_without_error(chat, room, who, text, quote):
    errors = []
    class Catch(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR:
                errors.append(record.getMessage())

    handler = Catch()
    logging.getLogger().addHandler(handler)
    try:
        sent = await chat.say(room, who or "x", text, quote=quote)
    finally:
        logging.getLogger().removeHandler(handler)
    assert errors == []
    for message in sent:
        assert len(message.text) < 1500
        assert "49" not in message.text or "49" in text or "49" in (quote or "")


async def test_huge_message_is_handled(chat):
    text = "需要修水管" + "啊" * 100_000 + "电话13908521234"
    sent = await chat.say("洗马社区第一网格群", "张阿姨", text)
    assert len(sent) == 1 and len(sent[0].text) < 500


async def test_huge_claim_message(chat):
    msg = IncomingMessage(id="big", sender_id="熊明祥", sender_name="熊明祥", text="接" + "1" * 100_000,
                          at=chat.clock.now(), room_id="洗马社区零工市场群", room_topic="洗马社区零工市场群")
    assert len(await chat.send(msg)) <= 1
