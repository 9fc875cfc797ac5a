"""Residents' personal data: recognising it in any form they write it, and hiding it.

One module owns this, so every output uses the same rules: market cards, escalations, reviews,
exports, the dashboard's tables, logs and error replies.

- **phones**: mobile (1[3-9] + 9 digits) and landline (0851-28221234, or the local 28221234 next to
  a word such as 电话/座机) numbers, with +86/0086/86/0 prefixes, written with any separators
  (spaces, dots, dashes, underscores, brackets, a line break), in full-width digits, Chinese
  numerals (一三九, 幺 for 1, 〇/零/洞 for 0) and 大写 (壹叁玖), mixed as residents mix them;
- **ID-card numbers**: 18 digits (the last may be X);
- **doors**: what is finer than the building: 2单元301, 3-2-401, B座1203, 七栋一单元三零二's
  一单元三零二, 门牌号302, 302室, 三楼右手边那家, 15号 after 3组;
- **names**: a self-given personal name (我叫张桂芳, 联系人：刘婆婆, 找我老伴陈德贵, 我姓李).

``mask`` is for people who may know an order exists but not whom it concerns (logs, error replies,
the exported table): phones keep their first three and last four digits, everything else becomes
asterisks.  ``public`` is for the market group: contact data is removed altogether, and the words
that asked for it (电话：, 我叫, 我住) go with it.  Both are linear in the text's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# --- digits as residents write them ---------------------------------------------------------

_DIGIT_OF = {**{c: c for c in "0123456789"}, **{chr(0xFF10 + i): str(i) for i in range(10)}}
for _chars, _d in (("零〇○洞", "0"), ("一幺壹", "1"), ("二贰貳", "2"), ("三叁參", "3"), ("四肆", "4"),
                   ("五伍", "5"), ("六陆陸", "6"), ("七柒拐", "7"), ("八捌", "8"), ("九玖勾", "9")):
    _DIGIT_OF.update(dict.fromkeys(_chars, _d))
# Characters that may sit between two digits of one number (at most three in a row: " - ").
_SEPARATORS = frozenset(" \u3000\u00a0.-_—–－‐·•/()（）[]【】\n\t+")
_MAX_GAP = 3
_CUE_RE = re.compile(r"(?:电话|手机|座机|号码|联系|打|tel|call|微信|v信|vx)[^0-9]{0,4}$", re.I)


class Secret(NamedTuple):
    start: int
    end: int
    kind: str  # phone | idcard | door | name
    value: str  # phones: the number as digits (landlines 0851-28221234); otherwise the text itself


class _Run(NamedTuple):
    digits: str
    at: tuple[int, ...]  # the text index of each digit
    group_start: tuple[bool, ...]  # digit i follows a separator (or starts the run)

    def ends_group(self, j: int) -> bool:
        """Whether a number ending before digit ``j`` ends where the resident's group ends: a phone
        is never the first 11 digits of a longer string (1796600370.1314, a timestamp)."""
        return j >= len(self.digits) or self.group_start[j]


def _runs(text: str) -> Iterator[_Run]:
    """Maximal runs of digits joined by at most three separators."""
    digits: list[str] = []
    at: list[int] = []
    starts: list[bool] = []
    gap, in_gap = 0, False
    for i, ch in enumerate(text):
        d = _DIGIT_OF.get(ch)
        if d is not None:
            if digits and gap > _MAX_GAP:
                yield _Run("".join(digits), tuple(at), tuple(starts))
                digits, at, starts = [], [], []
            starts.append(not digits or in_gap)
            digits.append(d)
            at.append(i)
            gap, in_gap = 0, False
        elif digits and ch in _SEPARATORS:
            gap += 1
            in_gap = True
        else:
            if digits:
                yield _Run("".join(digits), tuple(at), tuple(starts))
            digits, at, starts = [], [], []
            gap, in_gap = 0, False
    if digits:
        yield _Run("".join(digits), tuple(at), tuple(starts))


def _is_idcard(d: str) -> bool:
    """18 characters of an ID number: region, a plausible birth date, sequence, check digit."""
    if len(d) != 18 or d[0] == "0" or not d[:17].isdigit():
        return False
    year, month, day = int(d[6:10]), int(d[10:12]), int(d[12:14])
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def _is_mobile(d: str) -> bool:
    return len(d) == 11 and d[0] == "1" and d[1] in "3456789"


def _landline_at(d: str, i: int) -> int:
    """Length of a landline with its area code starting at ``d[i]`` (0851 + 7/8 digits), or 0."""
    if d[i] != "0" or i + 1 >= len(d) or d[i + 1] == "0":
        return 0
    area = 3 if d[i + 1] in "12" else 4
    for local in (8, 7):
        end = i + area + local
        if end <= len(d) and d[i + area] in "23456789" and (end == len(d) or local == 8):
            return area + local
    return 0


def _phones_in(text: str, run: _Run, taken: list[bool], bare_locals: bool) -> Iterator[Secret]:
    d, at, n = run.digits, run.at, len(run.digits)

    def secret(i: int, j: int, kind: str, value: str) -> Secret:
        for k in range(i, j):
            taken[k] = True
        start, end = at[i], at[j - 1] + 1
        if kind == "phone" and start > 0 and text[start - 1] == "+":
            start -= 1
        if kind == "idcard" and end < len(text) and text[end] in "Xx" and j - i == 17:
            end += 1
        return Secret(start, end, kind, value)

    def free(i: int, j: int) -> bool:
        return j <= n and not any(taken[i:j]) and run.ends_group(j)

    # ID numbers first (they contain 11-digit stretches), then mobiles, then landlines.
    for i in range(n - 16):
        if not run.group_start[i]:
            continue
        tail = at[i + 16] + 1
        if free(i, i + 17) and tail < len(text) and text[tail] in "Xx" and _is_idcard(d[i:i + 17] + "0"):
            yield secret(i, i + 17, "idcard", d[i:i + 17] + "X")
        elif free(i, i + 18) and _is_idcard(d[i:i + 18]):
            yield secret(i, i + 18, "idcard", d[i:i + 18])
    i = 0
    while i < n:
        for prefix in ("0086", "86", "0", ""):
            j = i + len(prefix) + 11
            if d.startswith(prefix, i) and free(i, j) and _is_mobile(d[i + len(prefix):j]) \
                    and (run.group_start[i] or prefix):
                yield secret(i, j, "phone", d[i + len(prefix):j])
                i = j
                break
        else:
            i += 1
    for i in range(n):
        if taken[i] or not run.group_start[i]:
            continue
        for prefix in ("0086", "86"):  # +86 851 2840 5791: the area code's 0 is dropped after +86
            if d.startswith(prefix, i) and (length := _landline_at("0" + d[i + len(prefix):], 0)) \
                    and free(i, i + len(prefix) + length - 1):
                j = i + len(prefix) + length - 1
                area = 3 if d[i + len(prefix)] in "12" else 4
                local = "0" + d[i + len(prefix):j]
                yield secret(i, j, "phone", f"{local[:area]}-{local[area:]}")
                break
        if taken[i]:
            continue
        length = _landline_at(d, i)
        if length and free(i, i + length):
            area = 3 if d[i + 1] in "12" else 4
            yield secret(i, i + length, "phone", f"{d[i:i + area]}-{d[i + area:i + length]}")
    # A local number (28221234) without its area code: only as a whole run, next to a contact word
    # (or anywhere, ``bare_locals``, but never a date such as 20261206).
    if 7 <= n <= 8 and not any(taken) and d[0] in "2345678" and (
            _CUE_RE.search(text[max(0, at[0] - 12):at[0]]) or (bare_locals and d[:2] not in ("19", "20"))):
        yield secret(0, n, "phone", d)


_EXTENSION_RE = re.compile(r"\s?(?:转|分机|ext\.?)\s?[0-9]{1,5}", re.I)


def find_numbers(text: str, *, bare_locals: bool = False) -> list[Secret]:
    """Phones and ID-card numbers in ``text``, in order.  ``bare_locals``: a lone 7-8 digit number is
    a local phone number even without 电话/座机 before it (logs: a phone list stored as JSON)."""
    found: list[Secret] = []
    for run in _runs(text):
        if len(run.digits) < 7:
            continue
        taken = [False] * len(run.digits)
        found.extend(_phones_in(text, run, taken, bare_locals))
        # A long unbroken string of digits that is none of these (a bank card) is hidden whole.
        j = 0
        while j < len(run.digits):
            k = j
            while k + 1 < len(run.digits) and run.at[k + 1] == run.at[k] + 1 and not taken[k + 1]:
                k += 1
            if k - j + 1 >= 12 and not any(taken[j:k + 1]):
                found.append(Secret(run.at[j], run.at[k] + 1, "number", run.digits[j:k + 1]))
            j = k + 1
    out = []
    for s in found:  # a landline's extension (转802) goes with it
        landline = s.kind == "phone" and ("-" in s.value or len(s.value) <= 8)
        if landline and (m := _EXTENSION_RE.match(text, s.end)):
            s = s._replace(end=m.end())
        out.append(s)
    return sorted(out)


# --- doors ----------------------------------------------------------------------------------

_CN = "零〇一二三四五六七八九十两幺"
_N = rf"(?:[0-9０-９]{{1,4}}|[{_CN}]{{1,3}})"
_ROOM = r"(?:[0-9０-９]{3,5}|[零〇一二三四五六七八九幺]{3,4})"  # a bare room number: 302, 三零二
_NOT_A_ROOM = r"(?![0-9０-９]|\s?(?:[元块点个岁年月日天分米斤倍次期届号单]|:|\.[0-9]|平|楼))"
_SPOT = (r"(?:左手边|右手边|左手|右手|左边|右边|中间|最里面|里面|最外面|顶楼|对门|隔壁|东户|西户|东边|西边"
         rf"|第{_N}(?:家|户|间)|储藏室旁边|储藏室|{_N}\s?号(?:车库|门面|房)?|车库|门面)")
_SPOT_TAIL = r"(?:那一?[家户间]|那边|人家)?"
_SUFFIX = "(?:室|号|房间|房)"
_UNIT = (rf"第?{_N}\s?单元(?:\s?(?:负?{_N}\s?[楼层]))?(?:\s?(?:{_N}\s?{_SUFFIX}|{_ROOM}{_NOT_A_ROOM}))?"
         rf"(?:\s?{_SPOT}{_SPOT_TAIL}|{_SPOT_TAIL})")
_TRIPLE = r"(?<![0-9码])(?<!码[:：])[0-9]{1,3}\s?[-—–_－]\s?[0-9]{1,2}\s?[-—–_－]\s?[0-9]{1,5}(?![0-9])"
_PAIR = r"(?<![0-9])[0-9]{1,2}\s?[-—–_－]\s?[0-9]{3,4}(?![0-9])"
_BLOCK_ROOM = rf"[A-Za-zＡ-Ｚ]\s?座\s?[0-9]{{2,5}}\s?{_SUFFIX}?"
_PLATE = rf"门牌(?:号码?)?\s?[:：是为]?\s?{_N}\s?{_SUFFIX}?"
_FLOOR = (rf"负?{_N}\s?[楼层](?:\s?(?:{_N}\s?{_SUFFIX}|{_ROOM}{_NOT_A_ROOM}))?(?:\s?{_SPOT}{_SPOT_TAIL})?")
_ROOM_AFTER = rf"(?:{_N}\s?{_SUFFIX}|{_ROOM}{_NOT_A_ROOM})"

_BUILDING = rf"(?:{_N}|[A-Za-zＡ-Ｚ])\s?(?:栋|幢|号楼|号院)|[A-Za-zＡ-Ｚ]\s?座(?!\s?[0-9])"
_PLACE = (r"(?<![家屋城这那哪手心村夜])(?:小区|花园|家园|新村|公寓|大厦|宿舍|家属区|平房|山庄|华府|广场|[苑湾城里府])"
          r"|(?<=[\u4e00-\u9fff]{2})[苑湾城里府]")
_LEAD = r"\s?[，,、]?\s?(?:我住|住|我家是?|我家在|我们是|我是|家在|这边是|是|在)?\s?"
# After a place a unit, a triple, a pair, a 座 + room or a plate is a door, and a floor with a room
# or a spot (负一楼21号车库); after a building also a floor alone (三楼) or a bare room (302).
_DOOR_AFTER_PLACE = rf"{_UNIT}|{_TRIPLE}|{_PAIR}|{_BLOCK_ROOM}|{_PLATE}"
_AFTER_BUILDING_RE = re.compile(rf"(?:{_BUILDING}){_LEAD}(?P<door>{_DOOR_AFTER_PLACE}|{_FLOOR}|{_ROOM_AFTER})")
_AFTER_PLACE_RE = re.compile(
    rf"(?:{_PLACE}){_LEAD}(?P<door>{_DOOR_AFTER_PLACE}|负?{_N}\s?[楼层]\s?(?:{_ROOM_AFTER}|{_SPOT}{_SPOT_TAIL}))")
_ANYWHERE_RE = re.compile(
    rf"(?P<door>{_UNIT}|{_TRIPLE}|{_BLOCK_ROOM}|{_PLATE}|[0-9]{{3,5}}\s?(?:室|房间)"
    rf"|(?<=[住])\s?{_ROOM_AFTER}|(?<=组)\s?{_N}\s?号|附\s?[0-9]{{1,4}}\s?号(?:\s?{_N}\s?[楼层])?"
    rf"|{_N}\s?[楼层]\s?[0-9]{{3,4}}{_NOT_A_ROOM}|{_N}\s?[楼层]\s?{_SPOT}{_SPOT_TAIL})")


def find_doors(text: str) -> list[Secret]:
    """Door numbers: the part of an address finer than the building."""
    spans: list[tuple[int, int]] = []
    for pattern in (_AFTER_BUILDING_RE, _AFTER_PLACE_RE, _ANYWHERE_RE):
        for m in pattern.finditer(text):
            start, end = m.span("door")
            while start < end and text[start].isspace():
                start += 1
            if end > start:
                spans.append((start, end))
    return [Secret(s, e, "door", text[s:e]) for s, e in _merge(spans)]


# --- names ----------------------------------------------------------------------------------

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
    "向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌"
    "毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳穆农司卓古吉缪简车项连芦麦"
    "褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查"
    "麻苑迟邝官封谈匡鞠惠荆冀郁胥班储栗燕楚鄢劳谌奚皮粟冼蔺楼盘闻厉伊仝郜阚权帅屠豆朴盖练廉禹井祖漆巴"
    "卿狄宣晋芮阙浦戈伏鹿薄邸雍辜羊母裘亓修邰赫杭况宿鲜逯隆茹诸慕亢嵇湛宾戎茅揭但尉冶束檀昝幸奉衡尧代卯"
)
_COMPOUND_SURNAMES = "欧阳|司马|上官|诸葛|东方|皇甫|尉迟|公孙|慕容|长孙|宇文|司徒|夏侯|令狐|端木|独孤"
_SURNAME_RE = rf"(?:{_COMPOUND_SURNAMES}|[{_SURNAMES}])"
_HONORIFIC = r"(?:阿姨|先生|女士|小姐|大爷|爷爷|奶奶|婆婆|孃孃|嬢嬢|娘娘|师母|大妈|大姐|大哥|姐姐|姐|哥|叔叔|叔|伯伯|婶婶|婶|嫂子|嫂)"
_NAME_STOP = "电手联住家的在要想需请找是就打帮来接喊说和与同下上今晚早师傅有没不了啊呀吧呢嘛哦个们这那里楼栋单元号室或和跟给"
_GIVEN = rf"[\u4e00-\u9fff](?<![{_NAME_STOP}])"
_GIVEN2 = rf"{_GIVEN}(?:{_GIVEN})?"
_RELATION = (r"(?:老伴|老公|老婆|爱人|媳妇|儿媳|儿子|女儿|闺女|女婿|孙女|孙子|外孙女|外孙|外婆|外公|母亲|父亲|岳父|岳母"
             r"|婆婆|公公|妈妈|爸爸|老妈|老爸|舅舅|姑姑|姨妈|哥哥|姐姐|弟弟|妹妹)")
_FULL_NAME = rf"{_SURNAME_RE}(?:{_HONORIFIC}|{_GIVEN2})"
_NAME_RE = re.compile(
    rf"(?P<cue>我叫|我的名字(?:是|叫)|名字叫|名叫|姓名[:：]?|本人|(?:{_RELATION}|[她他妈爸])叫)\s?(?P<name>{_FULL_NAME})"
    rf"|(?P<cue2>联系人|联系[:：]|找我|喊我|叫我|问我)\s?[:：]?\s?(?:{_RELATION}\s?)?(?P<name2>{_FULL_NAME})"
    rf"|(?P<cue3>(?<=[的我找喊他她])(?:{_RELATION}))\s?(?P<name3>{_FULL_NAME})(?:(?![\u4e00-\u9fff])|(?=就|电|接|帮|联))"
    rf"|(?P<cue4>(?<!百)姓)\s?(?P<name4>{_SURNAME_RE})(?:[，,、\s]{{0,2}}叫?\s?(?P<name5>(?P=name4){_GIVEN2}))?"
    rf"|(?P<cue6>我是)(?P<name6>{_FULL_NAME})(?![\u4e00-\u9fff])"
    rf"|(?P<cue7>找)(?P<name7>{_SURNAME_RE}(?:{_HONORIFIC}|(?:{_GIVEN}){{1,2}}))(?:(?![\u4e00-\u9fff])|(?=就|电|接|帮|联))"
)
# Words a cue may precede that are not names: workers (张师傅), roles (房东), days (周四).
_NOT_A_NAME = re.compile(rf"(?:{_SURNAME_RE})(?:师傅|老师|医生)|(?:周[末一二三四五六日天]|房东|房客|租客|单位|老板|同事|邻居"
                         r"|社区|物业|网格|司机|保姆|护工|月嫂)")


class _Name(NamedTuple):
    cue_start: int
    secret: Secret


def _names(text: str) -> list[_Name]:
    out = []
    for m in _NAME_RE.finditer(text):
        groups = [g for g in ("name", "name2", "name3", "name4", "name5", "name6", "name7") if m.group(g)]
        for g in groups:
            s, e = m.span(g)
            if _NOT_A_NAME.match(text, s):
                continue
            out.append(_Name(m.start(), Secret(s, e, "name", text[s:e])))
    return out


# --- all together ---------------------------------------------------------------------------

def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def find_secrets(text: str, *, bare_locals: bool = False) -> list[Secret]:
    """Every phone, ID number, door and name in ``text``, in order and not overlapping."""
    return _scan(text, bare_locals)[0]


def _scan(text: str, bare_locals: bool = False) -> tuple[list[Secret], dict[int, int]]:
    """``find_secrets``, and where the words that introduced each name begin (name start -> cue start)."""
    numbers = find_numbers(text, bare_locals=bare_locals)
    blanked = list(text)  # phone digits are never read as door numbers
    for s in numbers:
        blanked[s.start:s.end] = "\0" * (s.end - s.start)
    rest = "".join(blanked)
    names = _names(rest)
    found = sorted(numbers + find_doors(rest) + [n.secret for n in names])
    out: list[Secret] = []
    for s in found:
        if out and s.start < out[-1].end:
            if s.end > out[-1].end:
                out[-1] = out[-1]._replace(end=s.end, value=text[out[-1].start:s.end])
            continue
        out.append(s)
    return out, {n.secret.start: n.cue_start for n in names}


def mask_number(s: Secret) -> str:
    """``13985012345`` -> ``139****2345``; ``0851-28221234`` -> ``0851-****1234``; ID numbers keep
    their first and last four; a bare number keeps nothing."""
    v = s.value
    if s.kind == "phone" and "-" in v:
        area, local = v.split("-", 1)
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    if s.kind == "phone" and len(v) == 11:
        return f"{v[:3]}****{v[-4:]}"
    if s.kind == "phone":
        return f"{'*' * (len(v) - 4)}{v[-4:]}"
    if s.kind == "idcard":
        return f"{v[:4]}{'*' * 10}{v[-4:]}"
    return "*" * len(v)


def mask(text: str, *, bare_locals: bool = False) -> str:
    """``text`` with phones as 139****2345, ID numbers as 5203**********1234, doors and names as ***.
    ``bare_locals``: see ``find_numbers`` (the log filter)."""
    if not text:
        return text
    out, last = [], 0
    for s in find_secrets(text, bare_locals=bare_locals):
        out.append(text[last:s.start])
        out.append(mask_number(s) if s.kind in ("phone", "idcard", "number") else "*" * 3)
        last = s.end
    out.append(text[last:])
    return "".join(out)


_LABEL_BEFORE = re.compile(
    r"(?:(?:我的|我|打我的?|请打|拨打|快打|可以打|或者|或)?(?:联系)?"
    r"(?:电话号码|电话|手机号码|手机号|手机|座机|号码|联系方式|微信|[Vv]信|vx|VX|tel|TEL|Tel|身份证号码|身份证号|身份证)"
    r"(?:号码?)?(?:还是|是|为)?|联系|打|或者|或)?\s?[:：]?\s?$")
_LABEL_AFTER = re.compile(r"\s?[（(]?微信同号[)）]?")
_DOOR_LEAD = re.compile(r"(?:我住|住在|住|我家是?|我家在|我们是|我是|家在|这边是)\s?$")
_DOOR_TAIL = re.compile(r"的(?=[，,。.！!\s]|$)")
_PUNCT = "，,、。.；;：: \u3000!！"


def _removal(text: str, s: Secret, cue_start: int | None) -> tuple[int, int]:
    """The span ``public`` removes for ``s``: the secret and the words that introduce it."""
    start, end = s.start, s.end
    if s.kind in ("phone", "idcard", "number"):
        m = _LABEL_BEFORE.search(text, max(0, start - 12), start)
        if m and m.end() == start:
            start = m.start()
        if t := _LABEL_AFTER.match(text, end):
            end = t.end()
    elif s.kind == "door":
        if m := _DOOR_LEAD.search(text, max(0, start - 6), start):
            start = m.start()
        if t := _DOOR_TAIL.match(text, end):
            end = t.end()
    elif s.kind == "name" and cue_start is not None:
        start = cue_start
    return start, end


def public(text: str, *, doors: bool = False) -> str:
    """``text`` as a market group may read it: phones, ID numbers, doors and names removed, with the
    words that introduced them (电话：, 我叫, 我住), and the punctuation left around them tidied.
    ``doors``: keep door numbers (a community that shows addresses in its market on purpose)."""
    if not text:
        return text
    found, cues = _scan(text)
    secrets = [s for s in found if not (doors and s.kind == "door")]
    if not secrets:
        return text
    spans = _merge([_removal(text, s, cues.get(s.start)) for s in secrets])
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        last = end
        kept = "".join(out).rstrip(" \u3000")
        out = [kept]
        while last < len(text) and text[last] in _PUNCT and (not kept or kept[-1] in _PUNCT):
            last += 1  # never two separators in a row where something was removed
    out.append(text[last:])
    result = "".join(out).strip()
    return result.strip(_PUNCT) if result[:1] in _PUNCT or result[-1:] in "，,、；;：:" else result
