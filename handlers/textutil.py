"""Text helpers for the parser: normalisation, numbers, phones, addresses, times, budgets, categories.

Everything here is pure and linear in the input length: patterns have bounded repeats and
no nested quantifiers, so a 100 KB message cannot trigger catastrophic backtracking.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterator, NamedTuple, Protocol, Sequence

from handlers.privacy import mask

MAX_ORDER_NO = 10**9

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # controls, zero-width/format, surrogates
_HSPACE_RE = re.compile(r"[^\S\n]+")
_NEWLINE_RUN_RE = re.compile(r"\s*\n\s*")


def normalize(text: str) -> str:
    """NFKC, drop zero-width and control chars (newline kept), collapse whitespace, strip."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = "".join(
        ch for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    text = _HSPACE_RE.sub(" ", text)
    return _NEWLINE_RUN_RE.sub("\n", text).strip()


# --- numbers -------------------------------------------------------------------------------

_CN_DIGITS = "零一二三四五六七八九"
_CN_UNITS = "十百千"
CN_NUM_CHARS = "零〇一二两三四五六七八九十百千"


def cn_to_int(s: str) -> int | None:
    """Convert a simple Chinese numeral (十二, 一百零五, 一二) to an int, or None."""
    s = s.replace("〇", "零").replace("两", "二")
    if not s or any(c not in _CN_DIGITS + _CN_UNITS for c in s):
        return None
    if all(c in _CN_DIGITS for c in s):
        return int("".join(str(_CN_DIGITS.index(c)) for c in s))
    total = current = 0
    for c in s:
        if c in _CN_DIGITS:
            current = _CN_DIGITS.index(c)
        else:
            total += (current or 1) * 10 ** (_CN_UNITS.index(c) + 1)
            current = 0
    return total + current


def to_int(digits: str, limit: int = MAX_ORDER_NO) -> int | None:
    """Parse ASCII or Chinese digits; None when not a number or above ``limit``."""
    if digits.isascii() and digits.isdigit():
        stripped = digits.lstrip("0") or "0"
        value = int(stripped) if len(stripped) <= 12 else None
    else:
        value = cn_to_int(digits)
    return value if value is not None and value <= limit else None


_ORDER_TOKEN_RE = re.compile(
    rf"(?:#|no\.?|编号|单号|订单|第)?\s*([0-9]+|[{CN_NUM_CHARS}]+)\s*(?:号单|号|单)?", re.I)


def parse_order_no(token: str) -> int | None:
    """``12``, ``#12``, ``＃12``, ``#0012``, ``１２``, ``No.12``, ``12号``, ``十二`` -> 12.

    Returns None for anything that is not an order number, and for numbers above 10**9.
    """
    m = _ORDER_TOKEN_RE.fullmatch(normalize(token)) if len(token) <= 64 else None
    return to_int(m.group(1)) if m else None


_QUOTE_PATTERNS = (
    re.compile(r"#\s*([0-9]{1,12})(?![0-9])"),
    re.compile(r"(?:订单|单号|派单|工单|编号)\s*号?\s*:?\s*([0-9]{1,12})(?![0-9])"),
    re.compile(r"(?<![A-Za-z])no\.?\s*([0-9]{1,12})(?![0-9])", re.I),
)


def order_no_in_quote(quote: str | None) -> int | None:
    """The order number in the quoted text of an order card (``【派单 #12】``, ``订单#0012``)."""
    if not quote:
        return None
    text = normalize(quote)
    for pattern in _QUOTE_PATTERNS:
        m = pattern.search(text)
        if m:
            return to_int(m.group(1))
    return None


# --- phones --------------------------------------------------------------------------------

_PHONE_RE = re.compile(
    r"(?<![0-9])(?:\+?86[ -]?)?(?P<m1>1[3-9][0-9])[ -]?(?P<m2>[0-9]{4})[ -]?(?P<m3>[0-9]{4})(?![0-9])"
    r"|(?<![0-9])(?:\((?P<a1>0[1-9][0-9]{1,2})\) ?|(?P<a2>0[1-9][0-9]{1,2})[ -])"
    r"(?P<local>[2-9][0-9]{6,7})(?![0-9])"
)


class Phone(NamedTuple):
    start: int
    end: int
    number: str  # mobile: 11 digits; landline: area-local, e.g. 0851-28888888


def find_phones(text: str) -> Iterator[Phone]:
    """Mobile (1[3-9] + 9 digits, spaces/dashes allowed) and landline (0851-28888888) numbers."""
    for m in _PHONE_RE.finditer(text):
        if m.group("m1"):
            number = m.group("m1") + m.group("m2") + m.group("m3")
        else:
            number = f"{m.group('a1') or m.group('a2')}-{m.group('local')}"
        yield Phone(m.start(), m.end(), number)


def is_mobile(number: str) -> bool:
    return len(number) == 11 and number.isascii() and number.isdigit() and number[0] == "1"


def mask_phone(s: str) -> str:
    """``13812345678`` -> ``138****5678``; ``0851-28888888`` -> ``0851-****8888``."""
    phone = next(find_phones(normalize(s)), None)
    if phone is not None and "-" in phone.number:
        area, local = phone.number.split("-", 1)
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    digits = phone.number if phone else "".join(c for c in normalize(s) if c in "0123456789")
    if len(digits) < 7:
        return s
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_text(text: str) -> str:
    """``text`` normalised, with phones, ID numbers, doors and names masked (``handlers.privacy``)."""
    return mask(normalize(text))


# --- addresses -----------------------------------------------------------------------------

_NUM = r"(?:[0-9]{1,5}(?![0-9])|[一二三四五六七八九十两]{1,3})"
_PLACE_RE = (
    r"(?P<name>[\u4e00-\u9fffA-Za-z]{1,8})"
    rf"(?:(?:小区|花园|苑|公寓|大厦|新村|家园|山庄|宿舍)(?:{_NUM}期)?"
    rf"|(?:大道|大街|路|街|巷){_NUM}号(?:附{_NUM}号)?)"
)
_ANCHOR_RE = re.compile(
    rf"(?P<place>{_PLACE_RE})|{_NUM}(?:号楼|栋|幢|座|单元)|[0-9]{{1,5}}(?:室|房)(?![0-9])"
)
_PART_RE = re.compile(
    rf"[ -]?(?:(?P<building>{_NUM}(?:号楼|栋|幢|座))|(?P<unit>{_NUM}单元)|(?P<floor>{_NUM}(?:楼|层))"
    r"|(?P<triple>(?P<tb>[0-9]{1,3})-[0-9]{1,2}-[0-9]{1,5}(?![0-9]))"
    r"|(?P<room>[0-9]{1,5}(?:室|房|号)?)(?![0-9*元块点个人分米斤岁年月日天:.-]))"
)
_PART_ORDER = ("building", "unit", "floor", "room")  # a part must come after the previous one
# Words that end the lead-in before a place name: 家住 / 我们 / 到 ... 阳光小区.
_STOP_RE = re.compile(r"我们|咱们|你们|他们|住在|家住|位于|地址|[在住到去是的了我你他她请找帮给把要需看从往址个]")


class Address(NamedTuple):
    start: int
    end: int
    full: str
    coarse: str | None  # place + building only; None when only a unit/door was given


def _place_start(text: str, m: re.Match[str]) -> int | None:
    """Where the place name really starts (past 家住/到/我们 ...); None if nothing is left."""
    cut = m.start()
    for stop in _STOP_RE.finditer(text, m.start(), m.end("name")):
        cut = stop.end()
    return cut if cut < m.end("name") else None


def _extend(text: str, end: int, coarse: str | None) -> tuple[int, str | None]:
    """Consume building/unit/floor/room parts after ``end``; return the new end and coarse form."""
    level = 0
    while (p := _PART_RE.match(text, end)) is not None:
        kind = p.lastgroup or ""
        rank = 4 if kind == "triple" else _PART_ORDER.index(kind) + 1
        room = p.group("room") or ""
        if rank <= level or (kind == "triple" and coarse is None):
            break
        if level == 0 and room and room[-1] not in "室房号" and (coarse is None or not 3 <= len(room) <= 4):
            break  # a bare number is a door only after a building/unit, or 302 after a place
        if kind == "building":
            coarse = (coarse or "") + p.group("building")
        elif kind == "triple":
            coarse = (coarse or "") + p.group("tb") + "栋"
        level, end = rank, p.end()
    return end, coarse


def find_addresses(text: str) -> Iterator[Address]:
    """Address spans such as 阳光小区3栋2单元501室, 洗马路12号, 3栋2单元501, 501室."""
    pos = 0
    while (m := _ANCHOR_RE.search(text, pos)) is not None:
        if m.group("place"):
            start = _place_start(text, m)
            if start is None:  # only lead-in words before the suffix: 我们小区
                pos = m.end()
                continue
            end, coarse = _extend(text, m.end(), text[start:m.end()])
        else:
            start = m.start()
            end, coarse = _extend(text, start, None)
        if end > start:
            yield Address(start, end, text[start:end], coarse)
        pos = max(end, m.start() + 1)


def redact_addresses(text: str) -> str:
    """Replace every address with its coarse form, removing unit and door numbers."""
    out, last = [], 0
    for a in find_addresses(text):
        out.append(text[last:a.start])
        out.append(a.coarse or "")
        last = a.end
    out.append(text[last:])
    return "".join(out)


# --- time wishes and budgets ---------------------------------------------------------------

_DAY = (r"大后天|后天|今天|明天|今日|明日|今早|明早|今晚|明晚|(?:这|本|下下|下个?)?(?:周|星期|礼拜)[一二三四五六日天末]"
        r"|(?:下个?|这个?|本)月[0-9]{1,2}[日号]|[0-9]{1,2}月[0-9]{1,2}[日号]"
        r"|每(?:个|两|半个)?(?:周|星期|礼拜|月|天)(?:[一二三四五六日天末])?|每天"
        r"|这(?:两|几)天|这周内?|下(?:个|下)?(?:周|星期|礼拜|月)(?:初|底)?|下月(?:初|底)?|月[初底]|过年前|现在")
_PART_OF_DAY = r"早上|早晨|上午|中午|下午|傍晚|晚上|夜里|凌晨|白天"
_CLOCK = r"(?<![0-9])(?:[0-9]{1,2}:[0-9]{2}|[0-9]{1,2}点(?:半|[0-9]{1,2}分?|钟)?)"
_TIME_RE = re.compile(
    rf"(?:{_DAY}|{_PART_OF_DAY}|{_CLOCK}|尽快|马上|越快越好|立刻|立即|赶紧)"
    rf"(?: ?(?:{_DAY}|{_PART_OF_DAY}|{_CLOCK}|[一二三四五六七八九十两]{{1,3}}点(?:半|钟)?))*"
    r"(?:左右|之前|以前|之后|以后|前|后)?"
)


def find_time_wish(text: str) -> str | None:
    """The first time wish as written: 明天上午, 周六下午3点, 15:00, 尽快."""
    m = _TIME_RE.search(text)
    return m.group(0) if m else None


_AMOUNT = r"[0-9]{1,7}(?:\.[0-9]{1,2})?|[一二两三四五六七八九十百千万]{1,8}"
_LABEL = r"(?:报酬|酬劳|酬金|工钱|费用|价格|价钱|预算|工资)"
_LABELLED_BUDGET_RE = re.compile(
    rf"{_LABEL}\s*:?\s*(?:是|为|给)?\s*(?P<amount>{_AMOUNT})\s*(?P<unit>元|块钱|块)?")
_BUDGET_RE = re.compile(
    rf"¥\s*(?P<yen>[0-9]{{1,7}}(?:\.[0-9]{{1,2}})?)|(?<![0-9.])(?P<amount>{_AMOUNT})\s*(?P<unit>元|块钱|块)"
    # "给100", "100以内", "200左右" without a unit: two to five digits only, so a phone never counts
    r"|(?:给|出)\s*(?P<given>[0-9]{2,5})(?![0-9.点号栋楼层室分])"
    r"|(?<![0-9.])(?P<about>[0-9]{2,5})\s*(?:以内|以下|左右|上下)(?![0-9])")
_NEGOTIABLE_RE = re.compile(rf"(?:{_LABEL}\s*:?\s*)?(?:面议|好商量|可议价|议价)")


class Budget(NamedTuple):
    start: int
    end: int
    value: str  # 200元, 200块, 两百元, 面议


def _budget_value(amount: str, unit: str | None) -> str | None:
    if not amount[0].isdigit() and not any(c in "十百千万" for c in amount):
        return None  # 一块 / 三元 read as words, not prices
    return amount + ("块" if unit in ("块", "块钱") else "元")


def find_budget_span(text: str) -> Budget | None:
    """The first budget: labelled (报酬100) first, then an amount with a unit, then 面议."""
    for m in _LABELLED_BUDGET_RE.finditer(text):
        if (value := _budget_value(m.group("amount"), m.group("unit"))) is not None:
            return Budget(m.start(), m.end(), value)
    for m in _BUDGET_RE.finditer(text):
        if m.group("yen"):
            return Budget(m.start(), m.end(), m.group("yen") + "元")
        if bare := m.group("given") or m.group("about"):
            return Budget(m.start(), m.end(), bare + "元")
        if (value := _budget_value(m.group("amount"), m.group("unit"))) is not None:
            return Budget(m.start(), m.end(), value)
    m = _NEGOTIABLE_RE.search(text)
    return Budget(m.start(), m.end(), "面议") if m else None


def find_budget(text: str) -> str | None:
    """``200元``, ``200块``, ``两百元``, ``报酬100`` -> ``100元``, any 面议 form -> ``面议``."""
    budget = find_budget_span(text)
    return budget.value if budget else None


# --- categories and request detection ------------------------------------------------------


class Category(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def keywords(self) -> tuple[str, ...]: ...


def pick_category(text: str, categories: Sequence[Category]) -> str | None:
    """The category whose keyword occurs in ``text``, or None.

    The longest matching keyword wins.  Between keywords of equal length the one that ends
    later in the text wins, because the symptom usually follows the object (马桶堵了 ->
    管道疏通 over 马桶 -> 家电水电维修); remaining ties go to the earlier category.
    """
    folded = text.casefold()
    best: tuple[int, int, int] = (0, 0, 0)
    name = None
    for index, spec in enumerate(categories):
        for keyword in filter(None, spec.keywords):
            at = folded.rfind(keyword.casefold())
            key = (len(keyword), at + len(keyword), -index)
            if at >= 0 and key > best:
                best, name = key, spec.name
    return name


_NOTICE_RE = re.compile(r"(?:【[^】]{0,12}】|\[[^\]]{0,12}\]|紧急通知|重要通知|通知|公告|温馨提示|提醒|注意)")
_INTENT_RE = re.compile(
    r"(?<!不)需要|急需|(?<![申邀])请|找(?![到我回])|求|帮忙|帮我|帮帮|谁会|谁能|谁可以|谁有空|有谁"
    r"|有没有|有无|想找|想请|想要|来个|来一个|来位|要个|要一个|哪位|哪里有|哪儿有|哪里可以|麻烦"
    r"|能不能|可不可以|怎么办|快来|来人|急"
    r"|(?:家里|家中|屋里|我家|我们家|老人家里)要|要(?:修|换|打扫|清洗|疏通|开锁)")
_STRONG_INTENT_RE = re.compile(
    r"(?<!不)需要|急需|想找|想请|谁会|谁能|谁可以|谁有空|有没有|哪位|哪里有|来个|要个|来位|能不能|可不可以")
# Thanks, praise and group-wide notices are needs only with a strong intent word.
_WEAK_RE = re.compile(r"谢谢|感谢|多谢|辛苦了|点赞|好评|修好了|弄好了|搞定了|已经好了|完工了|各位|大家|全体|停水|停电|检修")
_NOT_A_NEED_RE = re.compile(
    r"接\s*#?[0-9]|#\s*[0-9]|[0-9]\s*号?单(?!元)|派单|接单|抢单|不需要|不用了|有需要的|需要的联系|联系我|承接|本人专业|出售|转让|二手")


def looks_like_request(text: str) -> bool:
    """True when ``text`` asks for help (an intent word) and is not a notice, thanks or order talk.

    The caller still requires a category keyword for an implicit need.
    """
    # A resident who leaves a phone number next to a category keyword is asking for someone to call.
    asks = _INTENT_RE.search(text) or _PHONE_RE.search(text)
    return not (
        _NOTICE_RE.match(text) or _NOT_A_NEED_RE.search(text) or not asks
        or (_WEAK_RE.search(text) and not _STRONG_INTENT_RE.search(text))
    )


# --- display -------------------------------------------------------------------------------

_ASCII_TO_CJK_PUNCT = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def restore_punct(text: str) -> str:
    """Undo NFKC's ASCII punctuation next to Chinese text, so residents' words read naturally."""
    out = []
    for i, ch in enumerate(text):
        if ch in _ASCII_TO_CJK_PUNCT:
            before = text[i - 1] if i > 0 else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            if _is_cjk(before) or _is_cjk(after):
                ch = _ASCII_TO_CJK_PUNCT[ch]
        out.append(ch)
    return "".join(out)
