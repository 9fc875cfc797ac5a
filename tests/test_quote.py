"""Table-driven tests for the quote and @mention text helpers."""

from __future__ import annotations

import html

import pytest

from bot.wechat.quote import recalled_id, split_appmsg_quote, split_quote, strip_leading_mention

SEP = "- - - - - - - - - - - - - - -"


@pytest.mark.parametrize(
    ("text", "quote", "reply"),
    [
        # the common iPad/PC form
        (f"「张三：原文」\n{SEP}\n回复", "张三：原文", "回复"),
        # multi-line quoted text and reply
        (f"「张三：第一行\n第二行」\n{SEP}\n好的\n收到", "张三：第一行\n第二行", "好的\n收到"),
        # CRLF line breaks and trailing spaces
        (f"「李四：招2人」\r\n{SEP}  \r\n我报名 ", "李四：招2人", "我报名"),
        # the web protocol's <br/> line breaks
        (f"「王五：搬家」<br/>{SEP}<br/>接了", "王五：搬家", "接了"),
        # a shorter separator still counts
        ("「赵六：hi」\n- - - - -\nyo", "赵六：hi", "yo"),
        # curly double quotes used by some clients
        (f"“张三：原文”\n{SEP}\n回复", "张三：原文", "回复"),
        # an empty reply
        (f"「张三：原文」\n{SEP}\n", "张三：原文", ""),
        # the quoted text itself contains a quote bracket pair (nested quote)
        (f"「张三：「李四：旧」 新」\n{SEP}\n再回", "张三：「李四：旧」 新", "再回"),
        # an @mention inside the reply is kept (stripping is a separate step)
        (
            f"「零工助手：#12 搬家」\n{SEP}\n@零工助手\u2005接单",
            "零工助手：#12 搬家",
            "@零工助手\u2005接单",
        ),
    ],
)
def test_split_quote_recognises_quotes(text: str, quote: str, reply: str) -> None:
    assert split_quote(text) == (quote, reply)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "普通消息",
        "多行\n消息",
        # dashes without a quote in front
        f"标题\n{SEP}\n正文",
        # brackets not closed before the separator
        f"「张三：原文\n{SEP}\n回复",
        # an empty quote
        f"「」\n{SEP}\n回复",
        # fewer than five dashes is an ordinary line
        "「张三：原文」\n- - -\n回复",
        # a dash line that is part of the text, not a whole line
        "「张三：原文」 - - - - - - 回复",
    ],
)
def test_split_quote_leaves_other_text_alone(text: str) -> None:
    assert split_quote(text) == (None, text)


@pytest.mark.parametrize(
    ("text", "names", "expected"),
    [
        ("@零工助手\u2005接单 #12", ["零工助手"], "接单 #12"),
        ("@零工助手 接单", ["零工助手"], "接单"),
        ("@零工助手", ["零工助手"], ""),
        # the group alias is tried as well as the name
        ("@派单小助手\u2005报名", ["零工助手", "派单小助手"], "报名"),
        # other people's mentions stay
        ("@零工助手\u2005@张三\u2005派给你", ["零工助手"], "@张三\u2005派给你"),
        ("@张三\u2005你好", ["零工助手"], "@张三\u2005你好"),
        # a longer name that merely starts with the bot's name is not the bot
        ("@零工助手2 你好", ["零工助手"], "@零工助手2 你好"),
        ("@零工助手2 你好", ["零工助手", "零工助手2"], "你好"),
        # a mention in the middle is not leading
        ("你好 @零工助手", ["零工助手"], "你好 @零工助手"),
        # no names known
        ("@零工助手 hi", [None, ""], "@零工助手 hi"),
        ("  @零工助手\u2005hi", ["零工助手"], "hi"),
    ],
)
def test_strip_leading_mention(text: str, names: list[str | None], expected: str) -> None:
    assert strip_leading_mention(text, names) == expected


# -- quote-replies as appmsg XML (type 57), as iPad/PC puppets and wechat4u deliver them -------------

CARD = "【派单 #12】家电水电：厨房水管漏水"
APPMSG = ('<msg><appmsg appid="" sdkver="0"><title>{title}</title><type>{type}</type>'
          '<refermsg><type>1</type><svrid>1</svrid><displayname>零工派单助手</displayname>'
          '<content>{content}</content></refermsg></appmsg></msg>')


@pytest.mark.parametrize("text, expected", [
    (APPMSG.format(title="接", type=57, content=CARD), ("零工派单助手：" + CARD, "接")),
    ("wxid_abc:\n" + APPMSG.format(title="接 ", type=57, content=CARD), ("零工派单助手：" + CARD, "接")),
    ('<?xml version="1.0"?>\n' + APPMSG.format(title="完成", type=57, content=CARD), ("零工派单助手：" + CARD, "完成")),
    (html.escape(APPMSG.format(title="接", type=57, content=CARD)), ("零工派单助手：" + CARD, "接")),
    (APPMSG.format(title="接", type=57, content="&lt;msg&gt;&lt;img/&gt;&lt;/msg&gt;"), (None, "接")),
    (APPMSG.format(title="链接", type=5, content=CARD), None),
    (APPMSG.format(title="接", type=57, content=CARD)[:-20], None),
    ("接1", None),
    ("说到refermsg这个词", None),
], ids=["plain", "sender-prefix", "xml-declaration", "html-escaped", "quoted-picture", "a-link-not-a-quote",
        "truncated", "plain-text", "the-word-only"])
def test_split_appmsg_quote(text, expected):
    assert split_appmsg_quote(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("3702138473", "3702138473"),
    (' <sysmsg type="revokemsg"><revokemsg><session>x@chatroom</session><msgid>1057</msgid>'
     '<newmsgid>7612092410943</newmsgid><replacemsg>"熊明祥" 撤回了一条消息</replacemsg></revokemsg></sysmsg>',
     "7612092410943"),
    ("<revokemsg><msgid>1057</msgid></revokemsg>", "1057"),
], ids=["wechaty-id", "sysmsg-xml", "old-msgid-only"])
def test_recalled_id(text, expected):
    assert recalled_id(text) == expected
