"""Context-free parsing of one chat message into one command of ``handlers.commands``.

``parse_message`` never touches storage and never raises on text.  A command word must
start the message (after one optional leading @mention).  Short forms (接12, 完成12, 查12 ...)
must make up the whole message, apart from a polite tail (了/啦/!/。/~/师傅/谢谢/emoji).
When a command word is followed by Chinese text that does not parse (派单了吗, 取消吧), the
message is chit-chat (None); when it is followed by nothing or by a bad token (派单 abc),
it is ``Malformed``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

from bot.config import CategorySpec
from handlers.commands import (
    Approve,
    Assign,
    Bind,
    Cancel,
    Claim,
    Command,
    Complete,
    Confirm,
    Dismiss,
    Dispatch,
    Help,
    Malformed,
    MyOrders,
    Need,
    OpenOrders,
    PostNeed,
    ProxyPost,
    Ranking,
    Rate,
    Redispatch,
    Register,
    Release,
    Show,
    Suspend,
    Tally,
    Unbind,
)
from handlers.privacy import find_numbers, public
from handlers.textutil import (
    CN_NUM_CHARS,
    find_addresses,
    find_budget,
    find_budget_span,
    find_phones,
    find_time_wish,
    is_mobile,
    looks_like_request,
    mask_phone,
    mask_text,
    normalize,
    order_no_in_quote,
    parse_order_no,
    pick_category,
    redact_addresses,
    to_int,
)

if TYPE_CHECKING:
    from handlers.classifier import Intake, LazyIntake

__all__ = [
    "CategorySpec", "extract_need", "mask_phone", "mask_text", "normalize", "order_no_in_quote",
    "parse_message", "parse_order_no", "pick_category", "redact_need_text",
]


# --- intake --------------------------------------------------------------------------------

_PROXY_RE = re.compile(r"#?\s*(?:代发单|代发\s*:)\s*[:,]?\s*")
_EXPLICIT_RE = re.compile(
    r"(?:#\s*发单|发单(?![了吗呢啊的子员])|[【\[](?:需求|求助|发单)[】\]]|需求\s*:|求助\s*(?=[:,!。\s]|$))"
    r"\s*[:,!。]?\s*")


def extract_need(text: str, categories: Sequence[CategorySpec]) -> Need:
    """Category, phones, address, time wish and budget of a need; a leading marker is removed."""
    text = normalize(text)
    marker = _PROXY_RE.match(text) or _EXPLICIT_RE.match(text)
    body = text[marker.end():].strip() if marker else text
    # Phones in every form residents write them (一三九…, 139.8501.2345, +86 …): the privacy
    # module's reading, so the taker gets each number in digits and no card ever shows one.
    phones = [p for p in find_numbers(body) if p.kind in ("phone", "idcard")]
    blanked = list(body)  # phone digits must not be read as door numbers
    for phone in phones:
        blanked[phone.start:phone.end] = "\0" * (phone.end - phone.start)
    address = next(find_addresses("".join(blanked)), None)
    return Need(
        text=body,
        category=pick_category(body, categories),
        phones=tuple(dict.fromkeys(p.value for p in phones if p.kind == "phone")),
        address=address.full if address else None,
        coarse_address=address.coarse if address else None,
        time_wish=find_time_wish(body),
        budget=find_budget(body),
    )


def redact_need_text(text: str, need: Need, *, doors: bool = False) -> str:
    """The need as a market group may read it: addresses cut down to 小区 + 楼栋 and every phone,
    ID number, door number and self-given name removed (``handlers.privacy.public``).
    ``doors``: keep the address whole (a community that shows it on purpose)."""
    text = normalize(text)
    if not doors and need.address and need.address in text:
        text = text.replace(need.address, need.coarse_address or "")
    text = public(text, doors=doors)
    return text if doors else redact_addresses(text)


def _posted(body: str, categories: Sequence[CategorySpec], names: Sequence[str], explicit: bool,
            review: bool = False) -> PostNeed:
    """The need of ``body``, once per service asked for (``names``: the classifier's categories;
    none: the keywords' choice), as one command (a second service is a second order)."""
    need = extract_need(body, categories)
    needs = [replace(need, category=name) for name in names] or [need]
    return PostNeed(needs[0], explicit, review=review, second=needs[1] if len(needs) > 1 else None)


def _intake(text: str, categories: Sequence[CategorySpec], intake: Intake | LazyIntake | None) -> Command | None:
    """Markers (代发单, 发单, 【需求】, 求助：) make a need whatever the classifier says; other
    messages are judged by it: an order, a review (待确认) or nothing.  Without a classifier
    (the grammar's own unit tests) an intent word and a category keyword make a need."""
    if m := _PROXY_RE.match(text):
        body = text[m.end():].strip()
        if not body:
            return Malformed("代发单", "proxy")
        return ProxyPost(_posted(body, categories, intake.categories_for(body) if intake else (), True).need)
    if m := _EXPLICIT_RE.match(text):
        body = text[m.end():].strip()
        if not body:
            return Malformed("发单", "post")
        return _posted(body, categories, intake.categories_for(body) if intake else (), True)
    if intake is None:
        if not looks_like_request(text):
            return None
        need = extract_need(text, categories)
        return PostNeed(need, False) if need.category else None
    judgement = intake.judge(text)
    if judgement.outcome is None:
        return None
    return _posted(text, categories, judgement.categories, False, review=judgement.outcome == "review")


# --- commands ------------------------------------------------------------------------------

_SHORT = 40  # short forms longer than this are chit-chat
_NO = rf"#?\s*(?P<no>[0-9]+(?![0-9])|[{CN_NUM_CHARS}]{{1,6}}(?=号))(?:号单|号|单)?"
_TAIL = (r"(?:[\s了啦嘞咯哦喔哈呀啊!。.~,、]|师傅|谢谢|好的|收到|马上到|马上去|我来"
         r"|\[[\u4e00-\u9fffA-Za-z]{1,4}\]|[\U0001F300-\U0001FAFF\u2600-\u27BF\uFE0F])*")
_BAD = r"\s*(?P<bad>[#A-Za-z0-9]{1,16})" + _TAIL
_CLAIM_W = r"(?:我来?)?(?:接单|抢单|接|抢)了?"
_DONE_W = r"(?:已经?|我)?(?:完成|完工|做完|干完|修好|弄好|搞定)了?"
_QUIT_W = r"我?(?:放弃|退单|退掉|退了|不接了|不做了|不去了)"
_PRE = r"\s*(?:订单|单)?\s*(?:第)?\s*"
_SATISFIED = r"(?P<neg>不|不太|很不|非常不)?(?:很|非常|十分)?满意"
_SHOW_W = r"(?:查询|查看|查单|查|订单)"
_SHORT_FORMS = (  # (pattern, kind, mode); mode: "no" number given, "bare" none (use the quote;
    # claim -> Claim(None), others -> chit-chat), "bare!" none (quote or Malformed), "bad" Malformed
    (re.compile(_CLAIM_W + _PRE + _NO + _TAIL), "claim", "no"),
    (re.compile(r"第?" + _NO + r"\s*" + _CLAIM_W + _TAIL), "claim", "no"),
    (re.compile(_CLAIM_W + _TAIL), "claim", "bare"),
    (re.compile(_CLAIM_W + _BAD), "claim", "bad"),
    (re.compile(_DONE_W + _PRE + _NO + _TAIL), "complete", "no"),
    (re.compile(r"(?:订单|第)?" + _NO + r"\s*" + _DONE_W + _TAIL), "complete", "no"),
    (re.compile(r"(?:已经?)?(?:完成|完工)了?" + _TAIL), "complete", "bare!"),
    (re.compile(_DONE_W + _TAIL), "complete", "bare"),
    (re.compile(r"(?:已经?)?(?:完成|完工)" + _BAD), "complete", "bad"),
    (re.compile(_QUIT_W + _PRE + _NO + _TAIL), "release", "no"),
    (re.compile(r"(?:订单|第)?" + _NO + r"\s*" + _QUIT_W + _TAIL), "release", "no"),
    (re.compile(r"(?P<word>放弃|退单)了?" + _TAIL), "release", "bare!"),
    (re.compile(r"(?P<word>放弃|退单)" + _BAD), "release", "bad"),
    (re.compile(_SATISFIED + _PRE + _NO + _TAIL), "rate", "no"),
    (re.compile(_NO + r"\s*" + _SATISFIED + _TAIL), "rate", "no"),
    (re.compile(r"(?P<neg>不)?满意" + _TAIL), "rate", "bare!"),
    (re.compile(_SHOW_W + r"\s*(?:订单|单号|单)?\s*" + _NO + r"\s*(?:详情|情况|状态|进度)?" + _TAIL), "show", "no"),
    (re.compile(_SHOW_W + r"\s*(?:订单|单号|单)?" + _TAIL), "show", "bare!"),
    (re.compile(_SHOW_W + _BAD), "show", "bad"),
)
_WORDS = (("claim", "接单"), ("complete", "完成"), ("release", "放弃"), ("rate", "满意"), ("show", "查"))
_RANK_PERIOD = r"今日|今天|当日|本日|日|本周|这周|本星期|这星期|周|本月|这个月|这月|当月|月|今年|本年|年度|全年|年"
_RANKING_RE = re.compile(
    rf"(?P<p1>{_RANK_PERIOD})?\s*的?\s*(?:接单王|接单排行榜?|接单排名|排行榜?|排名|榜单)\s*(?P<p2>{_RANK_PERIOD})?{_TAIL}")
_SIMPLE = (
    (re.compile(r"(?:帮助|菜单|help|使用帮助|使用说明|功能菜单|功能|指令|命令|\?+)" + _TAIL, re.I), Help),
    (re.compile(r"(?:待接单|待接订单|待接的单|待接|可接的单|可接订单)" + _TAIL), OpenOrders),
    (re.compile(r"我的(?:订单|单子|单|任务)" + _TAIL), MyOrders),
    (re.compile(r"(?:(?:今日|今天|本日|当日)?统计|(?:今日|今天)汇总)" + _TAIL), Tally),
)


def _short_form(text: str, quote: str | None) -> Command | None:
    for pattern, kind, mode in _SHORT_FORMS:
        if (m := pattern.fullmatch(text)) is None:
            continue
        groups = m.groupdict()
        word = groups.get("word") or ("不满意" if groups.get("neg") else dict(_WORDS)[kind])
        if mode == "bad":
            return Malformed(word, kind, groups["bad"])
        no = to_int(groups["no"]) if mode == "no" else order_no_in_quote(quote)
        if no is None:
            if mode == "no":
                return Malformed(word, kind, groups["no"])  # above 10**9: no such order
            if kind == "claim":
                return Claim(None)
            return Malformed(word, kind) if mode == "bare!" else None
        if kind == "rate":
            return Rate(no, 1, False) if groups.get("neg") else Rate(no, 5, True)
        return {"claim": Claim, "complete": Complete, "release": Release, "show": Show}[kind](no)
    return None


def _period(word: str | None) -> str:
    """今日 -> day, 本周 -> week, 今年 -> year, anything else (or nothing) -> month."""
    word = word or "月"
    if word in ("今日", "今天", "当日", "本日", "日"):
        return "day"
    return "week" if "周" in word or "星期" in word else "year" if "年" in word else "month"


# --- staff and worker commands with arguments ----------------------------------------------

_DISPATCH_RE = re.compile(r"派单" + _PRE + _NO + r"(?P<rest>.*)", re.S)
_NOTE_RE = re.compile(r"备注\s*:?\s*")
_ASSIGN_RE = re.compile(r"指派" + _PRE + _NO + r"\s*(?:给|->|→)?\s*@?(?P<worker>[^\s@,。]{1,32})")
_ASSIGN_REV_RE = re.compile(r"指派\s*给?\s*@?(?P<worker>[^\s@,。#0-9]{1,32})\s*(?:订单|单)?\s*" + _NO)
_REDISPATCH_RE = re.compile(r"改派" + _PRE + _NO)
_CANCEL_RE = re.compile(r"取消" + _PRE + _NO + r"\s*[,:;。]?\s*(?:原因\s*:?)?(?P<reason>.*)", re.S)
_RATE_RE = re.compile(r"评价" + _PRE + _NO + r"\s*[,:]?\s*(?P<score>[0-9]+(?![0-9])|[一二三四五六七八九十两])?")
_LABELS_RE = re.compile(r"姓名|名字|联系电话|电话|手机号?|联系方式|技能|工种|特长")
_TEAM_RE = re.compile(r"(?:所属团队|团队|队伍|班组)\s*:?\s*(?P<team>[^\s,、;:]+)?")
_SPLIT_RE = re.compile(r"[\s,、;:/]+")
_NAME_RE = re.compile(r"(?:(?![了吗呢吧啊的很也都是没不过率后])[\u4e00-\u9fff]){2,4}")  # 通过熊明祥, not 通过率很高


def _number(word: str, usage: str, m: re.Match[str]) -> int | Malformed:
    no = to_int(m.group("no"))
    return Malformed(word, usage, m.group("no")[:32]) if no is None else no


def _dispatch(text: str) -> Command | None:
    if (m := _DISPATCH_RE.match(text)) is None:
        return None
    if isinstance(no := _number("派单", "dispatch", m), Malformed):
        return no
    rest, note = m.group("rest"), None
    if n := _NOTE_RE.search(rest):
        rest, note = rest[:n.start()], rest[n.end():].strip()
    if budget := find_budget_span(rest):
        rest = rest[:budget.start] + " " + rest[budget.end:]
    note = " ".join(part for part in (rest.strip(" \n,:;。、"), note) if part) or None
    return Dispatch(no, budget.value if budget else None, note)


def _assign(text: str) -> Command | None:
    if (m := _ASSIGN_RE.match(text) or _ASSIGN_REV_RE.match(text)) is None:
        return None
    no = _number("指派", "assign", m)
    return no if isinstance(no, Malformed) else Assign(no, m.group("worker"))


def _redispatch(text: str) -> Command | None:
    if (m := _REDISPATCH_RE.match(text)) is None:
        return None
    no = _number("改派", "redispatch", m)
    return no if isinstance(no, Malformed) else Redispatch(no)


def _cancel(text: str) -> Command | None:
    if (m := _CANCEL_RE.fullmatch(text)) is None:
        return None
    no = _number("取消", "cancel", m)
    return no if isinstance(no, Malformed) else Cancel(no, m.group("reason").strip() or None)


def _rate(text: str) -> Command | None:
    if (m := _RATE_RE.match(text)) is None:
        return None
    if isinstance(no := _number("评价", "rate", m), Malformed):
        return no
    score = to_int(m.group("score"), limit=5) if m.group("score") else None
    if score is None or score < 1:
        return Malformed("评价", "rate", (m.group("score") or "")[:32] or None)
    return Rate(no, score, score >= 3)


_CONFIRM_RE = re.compile(r"确认" + _PRE + _NO + r"(?:\s*(?:是|为|改为|改成|类别)?\s*[:,]?\s*(?P<cat>[\u4e00-\u9fff]{2,12}))?"
                         + _TAIL)
_DISMISS_RE = re.compile(r"不是" + _PRE + _NO + r"(?:\s*(?:需求|订单|单))?" + _TAIL)


def _confirm(text: str) -> Command | None:
    if (m := _CONFIRM_RE.fullmatch(text)) is None:
        return None
    no = _number("确认", "confirm", m)
    return no if isinstance(no, Malformed) else Confirm(no, m.group("cat"))


def _dismiss(text: str) -> Command | None:
    if (m := _DISMISS_RE.fullmatch(text)) is None:
        return None
    no = _number("不是", "dismiss", m)
    return no if isinstance(no, Malformed) else Dismiss(no)


_BIND_RE = re.compile(r"绑定\s*[:：]?\s*(?P<code>[0-9]{4,8})" + _TAIL)
_UNBIND_RE = re.compile(r"解绑\s*[:：]?\s*@?(?P<name>[^\s@,。]{1,32})" + _TAIL)


def _bind(text: str) -> Command | None:
    m = _BIND_RE.fullmatch(text)
    return Bind(m.group("code")) if m else None


def _unbind(text: str) -> Command | None:
    m = _UNBIND_RE.fullmatch(text)
    return Unbind(m.group("name")) if m else None


def _register(text: str) -> Command | None:
    rest, team = _LABELS_RE.sub(" ", text[2:]), None
    if m := _TEAM_RE.search(rest):
        rest, team = rest[:m.start()] + " " + rest[m.end():], m.group("team")
    phone = next((p for p in find_phones(rest) if is_mobile(p.number)), None)
    if phone is None:
        digits = re.search(r"[0-9][0-9 -]{0,20}", rest)
        if digits:
            return Malformed("登记", "register", digits.group(0).strip())
        return Malformed("登记", "register") if rest[:1] in (" ", "\n", ":") else None
    tokens = [t.lstrip("@") for t in _SPLIT_RE.split(rest[:phone.start] + " " + rest[phone.end:]) if t]
    if not tokens or not tokens[0]:
        return Malformed("登记", "register")
    return Register(tokens[0], phone.number, tuple(dict.fromkeys(tokens[1:])), team)


def _named(cls: type[Approve] | type[Suspend]) -> Callable[[str], Command | None]:
    def parse(text: str) -> Command | None:
        rest = text[2:]
        if rest[:1] in (" ", "\n", ":", "@"):
            name = rest.strip(" \n:@").split(maxsplit=1)
            return cls(name[0].lstrip("@").rstrip("。!,")) if name else None
        return cls(rest) if _NAME_RE.fullmatch(rest) else None
    return parse


_STAFF = (
    ("派单", "dispatch", _dispatch), ("指派", "assign", _assign), ("改派", "redispatch", _redispatch),
    ("取消", "cancel", _cancel), ("评价", "rate", _rate), ("登记", "register", _register),
    ("通过", "approve", _named(Approve)), ("停用", "suspend", _named(Suspend)),
    ("确认", "confirm", _confirm), ("不是", "dismiss", _dismiss),
    ("绑定", "bind", _bind), ("解绑", "unbind", _unbind),
)


def _malformed_or_chat(word: str, usage: str, rest: str) -> Malformed | None:
    """Bad or missing arguments -> Malformed; the word used in a sentence (派单了吗) -> None."""
    if rest and rest[0] not in " \n:,@#" and not rest[0].isascii():
        return None
    token = rest.strip(" \n:,;").split(maxsplit=1)
    return Malformed(word, usage, token[0][:32] if token else None)


_MENTION_RE = re.compile(r"@[^\s@]{1,40} ")


def parse_message(
    text: str, categories: Sequence[CategorySpec], quote: str | None = None,
    intake: Intake | LazyIntake | None = None,
) -> Command | None:
    """Parse one message into a command, or None for chit-chat.

    ``quote`` is the text of a quoted (引用) message; a bare 接/完成/放弃/满意/查 that quotes
    an order card takes the card's order number.  ``intake`` is the classifier that judges a
    message no command word or marker claims (``handlers.classifier``).
    """
    text = normalize(text)
    if (m := _MENTION_RE.match(text)) and m.end() < len(text):
        text = text[m.end():]
    if not text:
        return None
    if len(text) <= _SHORT:
        for pattern, cls in _SIMPLE:
            if pattern.fullmatch(text):
                return cls()
        if m := _RANKING_RE.fullmatch(text):
            return Ranking(_period(m.group("p1") or m.group("p2")))
        if (command := _short_form(text, quote)) is not None:
            return command
    for word, usage, parse in _STAFF:
        if text.startswith(word):
            if word == "不是":  # an everyday word: anything but 不是12 is chit-chat
                return parse(text)
            return parse(text) or _malformed_or_chat(word, usage, text[len(word):])
    return _intake(text, categories, intake)
