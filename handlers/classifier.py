"""The intake classifier: is a grid-group message a need, and which service does it ask for.

Two linear models over character n-grams (scikit-learn's ``TfidfVectorizer`` and
``LogisticRegression``), trained from the labelled corpus (``handlers.corpus``) when the bot
starts:

- *need*: the probability that the message asks for an odd-job service;
- *category*: one-vs-rest over the categories of the needs, so a message that asks for two
  services can score high on both.

Before n-grams are taken, the text is normalised (``textutil.normalize``), lower-cased, phone
numbers become one sign and every run of digits becomes ``0``: a number says that a phone or a
door is there, not which one.

Training is deterministic (liblinear solver, no shuffling), so the same corpus gives the same
model.  ``load_or_train`` keeps the trained weights in ``cache_dir`` under a name made from a
hash of the training lines and the feature settings; the cache is plain arrays (``numpy.savez``,
read back with ``allow_pickle=False``), so nothing executable is ever loaded from disk, and a
community's added lines make a new hash and a new model at the next start.

``Intake`` turns a model's scores into what the bot does with a message (``Judgement``):
an order when the need score is at least ``order_above``, a review (待确认) by staff when it is
at least ``review_above``, nothing otherwise.  The thresholds are ``[intake]`` in config.toml.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bot.config import CategorySpec, Config
from handlers.corpus import Example
from handlers.textutil import normalize, pick_category

log = logging.getLogger(__name__)

FORMAT = 2  # bump when features or training change: the cache name includes it
NGRAMS = (1, 3)
NEED_C = 30.0  # inverse regularisation of the need model (chosen by 5-fold cross-validation)
CATEGORY_C = 30.0
SECOND_ABOVE = 0.5  # a second category is kept when it scores at least this
_PHONE_RE = re.compile(r"(?:\+?86)?1[3-9][0-9](?:[ .\-_—]?[0-9]){8}")
_DIGITS_RE = re.compile(r"[0-9]+")
_SPACES_RE = re.compile(r"\s\s+")  # what scikit-learn's char analyzer collapses
_REPEAT_RE = re.compile(r"(.{1,8}?)\1{2,}", re.DOTALL)


def prepare(text: str) -> str:
    """The text the models see: normalised, lower-case, phones as ☎, digit runs as 0, and a
    piece repeated three times or more kept twice (啊啊啊啊… -> 啊啊), so filler cannot drown a need."""
    text = normalize(text).lower()
    text = _DIGITS_RE.sub("0", _PHONE_RE.sub("☎", text))
    return _REPEAT_RE.sub(r"\1\1", text)


@dataclass(frozen=True)
class Scores:
    """A model's view of one message: the need probability and each category's, best first."""

    need: float
    categories: tuple[tuple[str, float], ...]


class Model:
    """The trained weights: a vocabulary of n-grams with their idf, and two linear models.

    Scoring is plain numpy, the same arithmetic as scikit-learn's ``TfidfVectorizer(analyzer=
    "char", sublinear_tf=True)`` and ``LogisticRegression.predict_proba`` (tests/test_classifier.py
    checks it), so a bot that reads its model from the cache never imports scikit-learn."""

    def __init__(self, terms: Sequence[str], idf: np.ndarray, need_coef: np.ndarray, need_bias: float,
                 names: Sequence[str], cat_coef: np.ndarray, cat_bias: np.ndarray) -> None:
        self.terms, self.names = list(terms), list(names)
        self.index = {t: i for i, t in enumerate(self.terms)}
        self.idf, self.need_coef, self.need_bias = idf, need_coef, float(need_bias)
        self.cat_coef, self.cat_bias = cat_coef, cat_bias

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The message's tf-idf vector as (indices, weights): known n-grams of 1 to 3 characters
        (whitespace runs read as one space), 1 + log(count) times idf, scaled to length 1."""
        text = _SPACES_RE.sub(" ", prepare(text))
        counts: dict[int, int] = {}
        for n in range(NGRAMS[0], NGRAMS[1] + 1):
            for i in range(len(text) - n + 1):
                j = self.index.get(text[i:i + n])
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(counts, dtype=np.int64, count=len(counts))
        weights = (1.0 + np.log(np.fromiter(counts.values(), dtype=float, count=len(counts)))) * self.idf[idx]
        return idx, weights / np.linalg.norm(weights)

    def scores(self, text: str) -> Scores:
        idx, weights = self.vector(text)
        need = float(_sigmoid(float(weights @ self.need_coef[idx]) + self.need_bias))
        cats = _sigmoid(self.cat_coef[:, idx] @ weights + self.cat_bias)
        ranked = sorted(zip(self.names, (float(p) for p in cats)), key=lambda item: -item[1])
        return Scores(need, tuple(ranked))

    @classmethod
    def train(cls, examples: Sequence[Example]) -> Model:
        """Fit both models on ``examples`` (the train split); needs of every category must be there."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [prepare(ex.text) for ex in examples]
        needs = np.array([ex.need for ex in examples])
        if needs.all() or not needs.any():
            raise ValueError("the corpus needs both needs and non-needs to train on")
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False)
        x = vectorizer.fit_transform(texts)
        need = LogisticRegression(C=NEED_C, solver="liblinear", class_weight="balanced", max_iter=1000)
        need.fit(x, needs)
        names = sorted({c for ex in examples for c in ex.categories})
        rows = np.flatnonzero(needs)
        coefs, biases = [], []
        for name in names:
            target = np.array([name in examples[i].categories for i in rows])
            if target.all():  # one category only: it is always the answer
                coefs.append(np.zeros(x.shape[1]))
                biases.append(10.0)
                continue
            model = LogisticRegression(C=CATEGORY_C, solver="liblinear", max_iter=1000).fit(x[rows], target)
            coefs.append(model.coef_[0])
            biases.append(float(model.intercept_[0]))
        terms = [t for t, _ in sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])]
        return cls(terms, vectorizer.idf_, need.coef_[0], float(need.intercept_[0]), names,
                   np.array(coefs).reshape(len(names), x.shape[1]), np.array(biases))

    def save(self, path: Path) -> None:
        """Write the weights as plain arrays (atomically: a half-written cache is never read)."""
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, terms=np.array(self.terms, dtype=str), idf=self.idf, need_coef=self.need_coef,
                     need_bias=np.array([self.need_bias]), names=np.array(self.names, dtype=str),
                     cat_coef=self.cat_coef, cat_bias=self.cat_bias)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Model:
        with np.load(path, allow_pickle=False) as data:
            return cls([str(t) for t in data["terms"]], data["idf"], data["need_coef"], float(data["need_bias"][0]),
                       [str(n) for n in data["names"]], data["cat_coef"], data["cat_bias"])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def corpus_hash(examples: Iterable[Example]) -> str:
    """What the cache name is made from: the training lines and the feature settings."""
    from importlib.metadata import (
        version,  # not ``import sklearn``: the bot itself never loads it
    )

    digest = hashlib.sha256(json.dumps([FORMAT, NGRAMS, NEED_C, CATEGORY_C, version("scikit-learn")]).encode())
    for ex in examples:
        digest.update(json.dumps([ex.text, ex.need, ex.categories], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def load_or_train(examples: Sequence[Example], cache_dir: Path | None,
                  files: Sequence[Path] | None = None) -> Model:
    """The model of ``examples``: read from ``cache_dir`` when it was trained before, else
    trained and written there (a cache that cannot be read or written is only logged).

    With ``files`` (the corpus files ``examples`` come from) the training runs in a child
    process (``python -m handlers.classifier``), so the bot itself never loads scikit-learn and
    its memory stays that of the weights alone."""
    if cache_dir is None:
        return _train(examples)
    path = Path(cache_dir) / f"intake-model-{corpus_hash(examples)[:20]}.npz"
    if path.exists():
        try:
            model = Model.load(path)
            log.info("intake model read from %s", path)
            return model
        except (OSError, ValueError, KeyError) as exc:
            log.warning("intake model cache %s unreadable (%s); training again", path, exc)
    if files is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "handlers.classifier", str(path), *map(str, files)],
                           check=True, capture_output=True, text=True, timeout=600)
            model = Model.load(path)
            log.info("intake model trained on %d corpus lines in %.1f s (in a child process), cached in %s",
                     len(examples), time.perf_counter() - started, path)
            return model
        except (OSError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            log.warning("training the intake model in a child process failed (%s); training here", detail)
    model = _train(examples)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    except OSError as exc:
        log.warning("cannot write the intake model cache %s (%s)", path, exc)
    return model


def _train(examples: Sequence[Example]) -> Model:
    started = time.perf_counter()
    model = Model.train(examples)
    log.info("intake model trained on %d corpus lines in %.1f s", len(examples), time.perf_counter() - started)
    return model


Decision = Literal["order", "review"] | None


@dataclass(frozen=True)
class Judgement:
    """What intake does with a message: ``outcome`` "order", "review" (待确认) or None (silence),
    the need score, and the categories asked for (one, or two for two needs)."""

    outcome: Decision
    need: float
    categories: tuple[str, ...]


class Intake:
    """A model and the thresholds of ``[intake]``, over the configured categories."""

    def __init__(self, model: Model, categories: Sequence[CategorySpec], *, order_above: float = 0.8,
                 review_above: float = 0.25) -> None:
        self.model, self.categories = model, tuple(categories)
        self.order_above, self.review_above = order_above, review_above
        self._names = {c.name for c in self.categories}

    def categories_of(self, text: str, scores: Scores) -> tuple[str, ...]:
        """The categories asked for: the model's best (a second when it scores high too), among
        the configured ones; a category the corpus does not know is found by its keywords."""
        ranked = [(name, p) for name, p in scores.categories if name in self._names]
        if not ranked:
            keyword = pick_category(text, self.categories)
            return (keyword,) if keyword else ()
        best = [ranked[0][0]]
        if len(ranked) > 1 and ranked[1][1] >= SECOND_ABOVE:
            best.append(ranked[1][0])
        return tuple(best)

    def categories_for(self, text: str) -> tuple[str, ...]:
        """The categories of a need already known to be one (a marker said so)."""
        return self.categories_of(text, self.model.scores(text))

    def judge(self, text: str) -> Judgement:
        scores = self.model.scores(text)
        outcome: Decision = ("order" if scores.need >= self.order_above
                            else "review" if scores.need >= self.review_above else None)
        categories = self.categories_of(text, scores) if outcome else ()
        if outcome == "order" and not categories:
            outcome = "review"  # a need of no known category: staff decide
        return Judgement(outcome, scores.need, categories)


def corpus_paths(config: Config) -> list[Path]:
    """The repository's corpus files and those of ``[intake].corpus``."""
    from handlers.corpus import corpus_files

    return [*corpus_files(), *(Path(p) for p in config.intake.corpus)]


def examples_of(paths: Sequence[Path]) -> list[Example]:
    """The train split of the lines of ``paths`` (``handlers.corpus.is_test`` keeps the rest out)."""
    from handlers.corpus import load_corpus, split

    return split([ex for path in paths for ex in load_corpus(path)])[0]


def training_examples(config: Config) -> list[Example]:
    """The train split of the repository's corpus and of the files in ``[intake].corpus``."""
    return examples_of(corpus_paths(config))


def build_intake(config: Config, cache_dir: Path | None = None, model: Model | None = None) -> Intake:
    """The intake the bot runs for ``config``: ``model`` if given, else trained from the corpus
    (in a child process, or read from ``cache_dir`` when trained there before)."""
    if model is None:
        paths = corpus_paths(config)
        model = load_or_train(examples_of(paths), cache_dir, paths if cache_dir is not None else None)
    return Intake(model, config.categories, order_above=config.intake.order_above,
                  review_above=config.intake.review_above)


class LazyIntake:
    """An ``Intake`` trained the first time a message needs it (an App that only answers
    commands, e.g. in a report or a benchmark of claims, never trains)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._intake: Intake | None = None

    @property
    def intake(self) -> Intake:
        if self._intake is None:
            self._intake = build_intake(self.config)
        return self._intake

    def judge(self, text: str) -> Judgement:
        return self.intake.judge(text)

    def categories_for(self, text: str) -> tuple[str, ...]:
        return self.intake.categories_for(text)


def main(argv: Sequence[str]) -> int:
    """``python -m handlers.classifier OUT.npz FILE.jsonl…``: train on the files' train split, save."""
    if len(argv) < 2:
        print("usage: python -m handlers.classifier OUT.npz CORPUS.jsonl...", file=sys.stderr)
        return 2
    Model.train(examples_of([Path(p) for p in argv[1:]])).save(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
