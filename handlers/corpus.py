"""The labelled corpus of grid-group messages: loading, the train/test rule, and measuring intake.

A corpus file is JSON lines, one message each (README: 标注语料):
``{"text": …, "need": true|false, "category": "搬家配送" | null | ["…", "…"], "phone": […],
"address": … | null, "time": … | null, "budget": … | null, "kind": "…"}``; every span is an
exact substring of ``text``.  ``load_corpus`` rejects a malformed line naming its line number.

The split is a fixed rule on the text alone (``is_test``: the first byte of its SHA-1 modulo
5 is 0, about a fifth), so a line is in the same split on every machine and whichever file it
comes from, and a community's added lines fall where the rule puts them.

``evaluate`` measures any predictor (text -> ``Outcome``) on labelled examples: need precision
and recall of auto-created orders, the share of needs that become an order or a review,
category accuracy and the confusion of categories, and the misses.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SPANS = ("address", "time", "budget")


class CorpusError(ValueError):
    """A corpus line is not of the documented form; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    text: str
    need: bool
    categories: tuple[str, ...]  # () when not a need; two for a message with two needs
    phones: tuple[str, ...] = ()
    address: str | None = None
    time: str | None = None
    budget: str | None = None
    kind: str = ""


@dataclass(frozen=True)
class Outcome:
    """What intake made of one message: an order, a review (待确认) or nothing."""

    order: bool = False
    review: bool = False
    categories: tuple[str, ...] = ()


def is_test(text: str) -> bool:
    """The fixed split rule: about one line in five is in the test split."""
    return hashlib.sha1(text.encode("utf-8")).digest()[0] % 5 == 0


def _example(data: object, categories: frozenset[str] | None) -> Example:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('"text" must be a non-empty string')
    need = data.get("need")
    if not isinstance(need, bool):
        raise ValueError('"need" must be true or false')
    raw = data.get("category")
    cats = tuple(raw) if isinstance(raw, list) else () if raw is None else (raw,)
    if need and not 1 <= len(cats) <= 2:
        raise ValueError('a need has "category": one name or a list of two')
    if not need and cats:
        raise ValueError('"category" must be null when "need" is false')
    for cat in cats:
        if not isinstance(cat, str) or (categories is not None and cat not in categories):
            raise ValueError(f'"category" {cat!r} is not one of the configured categories')
    phones = data.get("phone", [])
    if not isinstance(phones, list) or not all(isinstance(p, str) and p in text for p in phones):
        raise ValueError('"phone" must be a list of substrings of "text"')
    spans = {}
    for key in SPANS:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or value not in text):
            raise ValueError(f'"{key}" must be null or a substring of "text"')
        spans[key] = value
    kind = data.get("kind", "")
    return Example(text, need, cats, tuple(phones), kind=kind if isinstance(kind, str) else "", **spans)


def load_corpus(path: Path | str, categories: Iterable[str] | None = None) -> list[Example]:
    """The examples of one JSONL file (blank lines skipped); ``CorpusError`` names a bad line."""
    known = frozenset(categories) if categories is not None else None
    examples: list[Example] = []
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read ({exc})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            examples.append(_example(json.loads(line), known))
        except (json.JSONDecodeError, ValueError) as exc:
            raise CorpusError(f"{path} line {lineno}: {exc}") from None
    return examples


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """``(train, test)`` by ``is_test``."""
    train, test = [], []
    for ex in examples:
        (test if is_test(ex.text) else train).append(ex)
    return train, test


@dataclass
class Report:
    """The figures of one evaluation (``format`` prints them as ``linggong intake eval`` does)."""

    messages: int = 0
    needs: int = 0
    orders: int = 0
    orders_right: int = 0  # orders made from a real need
    reviews: int = 0
    reviews_of_needs: int = 0
    heard: int = 0  # needs that became an order or a review
    categorised: int = 0  # heard needs with a predicted category
    category_right: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    missed: list[Example] = field(default_factory=list)
    false_orders: list[Example] = field(default_factory=list)

    @staticmethod
    def ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    @property
    def precision(self) -> float:
        return self.ratio(self.orders_right, self.orders)

    @property
    def recall(self) -> float:
        """Needs that became an order or a review, of all needs."""
        return self.ratio(self.heard, self.needs)

    @property
    def review_share(self) -> float:
        return self.ratio(self.reviews_of_needs, self.needs) if self.needs else 0.0

    @property
    def category_accuracy(self) -> float:
        return self.ratio(self.category_right, self.categorised)

    def format(self, misses: int = 20) -> str:
        lines = [
            f"messages {self.messages}, needs {self.needs}",
            f"auto orders: {self.orders}, precision {self.precision:.3f}",
            f"needs heard (order or review): {self.heard}/{self.needs} = {self.recall:.3f}",
            f"reviews: {self.reviews} ({self.reviews_of_needs} of them needs; "
            f"{self.review_share:.3f} of needs went to review)",
            f"category accuracy: {self.category_right}/{self.categorised} = {self.category_accuracy:.3f}",
        ]
        wrong = [(k, n) for k, n in self.confusion.most_common() if k[0] != k[1]]
        if wrong:
            lines.append("category confusions (labelled -> predicted: count):")
            lines += [f"  {a} -> {b}: {n}" for (a, b), n in wrong]
        for title, items in (("missed needs", self.missed), ("false orders", self.false_orders)):
            if items:
                lines.append(f"{title} ({len(items)}; first {min(misses, len(items))}):")
                lines += [f"  {ex.text}" for ex in items[:misses]]
        return "\n".join(lines)


def evaluate(examples: Sequence[Example], predict: Callable[[str], Outcome]) -> Report:
    """Run ``predict`` on every example and count."""
    r = Report()
    for ex in examples:
        out = predict(ex.text)
        r.messages += 1
        r.needs += ex.need
        r.orders += out.order
        r.orders_right += out.order and ex.need
        r.reviews += out.review
        r.reviews_of_needs += out.review and ex.need
        if ex.need and (out.order or out.review):
            r.heard += 1
            if out.categories:
                r.categorised += 1
                right = set(out.categories) == set(ex.categories)
                r.category_right += right
                r.confusion[("+".join(sorted(ex.categories)), "+".join(sorted(out.categories)))] += 1
        elif ex.need:
            r.missed.append(ex)
        if out.order and not ex.need:
            r.false_orders.append(ex)
    return r


def corpus_files() -> list[Path]:
    """The repository's corpus (shipped with the package)."""
    return sorted((Path(__file__).with_name("intake_data")).glob("*.jsonl"))


def repository_split(categories: Iterable[str] | None = None) -> tuple[list[Example], list[Example]]:
    """``(train, test)`` of every file of the repository's corpus."""
    examples = [ex for path in corpus_files() for ex in load_corpus(path, categories)]
    return split(examples)
