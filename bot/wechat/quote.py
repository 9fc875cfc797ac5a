"""Pure text helpers for WeChat messages: quotes (引用) and leading @mentions.

Wechaty puppets do not model quotes; most deliver a quoted reply as plain text::

    「张三：原文」
    - - - - - - - - - - - - - - -
    回复

No wechaty import here, so these are cheap to test and reuse (replay, console).
"""

from __future__ import annotations

import re
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
