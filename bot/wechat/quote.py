"""Pure text helpers for WeChat messages: quotes (引用) and leading @mentions.

Wechaty puppets do not model quotes; most deliver a quoted reply as plain text::

    「张三：原文」
    - - - - - - - - - - - - - - -
    回复

iPad/PC puppets (and wechat4u) instead deliver the raw XML "appmsg" of type 57, whose
``<title>`` is the reply and whose ``<refermsg>`` holds the quoted message's sender
(``<displayname>``) and text (``<content>``); ``split_appmsg_quote`` reads that form into the
same ``(quote, reply)``.

No wechaty import here, so these are cheap to test and reuse (replay, console).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from types import MappingProxyType

# The dashed separator line WeChat puts between the quoted text and the reply:
# usually 15 dashes separated by spaces; accept any run of 5 or more dashes, and
# both "\n" and the web protocol's "<br/>" as line breaks.
_SEPARATOR = re.compile(r"(?:\r?\n|<br\s*/?>)[ \t]*(?:-[ \t]*){5,}(?:\r?\n|<br\s*/?>|$)")
# Quote brackets seen in the wild: 「…」 (iPad/PC protocols) and “…” (some web clients).
_BRACKETS = MappingProxyType({"「": "」", "“": "”"})
_MENTION_GAP = "\u2005\u0020\u00a0"


def split_quote(text: str) -> tuple[str | None, str]:
    """Split a quoted reply into ``(quote, reply)``.

    ``quote`` is the text inside the brackets, as WeChat shows it, including the
    quoted sender (``"张三：原文"``).  Text that is not in the quote form comes back as ``(None, text)``.
    """
    match = _SEPARATOR.search(text)
    if match is None:
        return None, text
    head = text[: match.start()].strip()
    reply = text[match.end() :].strip()
    if len(head) < 2:
        return None, text
    closing = _BRACKETS.get(head[0])
    if closing is None or head[-1] != closing:
        return None, text
    quote = head[1:-1].strip()
    if not quote:
        return None, text
    return quote, reply


_APPMSG_START = re.compile(r"<msg[\s>]|<\?xml")


def split_appmsg_quote(text: str) -> tuple[str | None, str] | None:
    """``(quote, reply)`` of a quote-reply delivered as appmsg XML (type 57), else None.

    The quote is ``"显示名：原文"`` as the text form gives it.  A group message may carry the
    sender's id and a newline before the XML; the XML may arrive HTML-escaped (web protocol)."""
    if "refermsg" not in text:
        return None
    if "&lt;" in text[:200]:
        text = html.unescape(text)
    start = _APPMSG_START.search(text)
    if start is None:
        return None
    try:
        root = ET.fromstring(text[start.start():].strip())
    except ET.ParseError:
        return None
    appmsg = root if root.tag == "appmsg" else root.find("appmsg")
    if appmsg is None or (appmsg.findtext("type") or "").strip() != "57":
        return None
    refer = appmsg.find("refermsg")
    reply = (appmsg.findtext("title") or "").strip()
    if refer is None:
        return None, reply
    content = (refer.findtext("content") or "").strip()
    if "<msg" in content or "&lt;msg" in content:  # a quoted picture, link or quote: no text to read
        content = ""
    name = (refer.findtext("displayname") or "").strip()
    quote = f"{name}：{content}" if name and content else content or None
    return quote, reply


_REVOKED_IDS = (re.compile(r"<newmsgid>\s*(\d+)\s*</"), re.compile(r"<msgid>\s*(\d+)\s*</"))


def recalled_id(text: str) -> str:
    """The id of the message a recall (撤回) event names: wechaty puts it as the text; some
    puppets pass WeChat's ``<sysmsg type="revokemsg">`` XML, whose ``<newmsgid>`` it is."""
    for pattern in _REVOKED_IDS:
        if found := pattern.search(text):
            return found.group(1)
    return text.strip()


def strip_leading_mention(text: str, names: Iterable[str | None]) -> str:
    """Remove a leading ``@Name`` (followed by WeChat's U+2005, a space or the end).

    ``names`` are the names the bot may be mentioned by (its group alias and its own
    name); the longest match wins, so ``@零工助手2`` is not mistaken for ``@零工助手``.
    Mentions of anyone else are kept.
    """
    stripped = text.lstrip()
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        prefix = "@" + name
        if not stripped.startswith(prefix):
            continue
        rest = stripped[len(prefix) :]
        if rest == "" or rest[0] in _MENTION_GAP:
            return rest.lstrip(_MENTION_GAP + "\t\r\n")
    return text
