"""The intake classifier: deterministic training, the disk cache, a community's own lines, the
thresholds from config, and the figures on the repository's test split (the issue's targets)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.config import ConfigError, load_config
from handlers.classifier import (
    Model,
    build_intake,
    load_or_train,
    prepare,
    training_examples,
)
from handlers.corpus import Example, evaluate, repository_split
from tests.conftest import ROOT, _repository_model, shared_intake

CONFIG = ROOT / "config.toml"


def test_training_is_deterministic_and_the_cache_gives_the_same_model(tmp_path: Path) -> None:
    examples = training_examples(load_config(CONFIG))
    first = load_or_train(examples, tmp_path)
    [cached] = list(tmp_path.glob("intake-model-*.npz"))
    with np.load(cached, allow_pickle=False) as data:  # plain arrays: nothing executable is stored
        assert set(data.files) == {"terms", "idf", "need_coef", "need_bias", "names", "cat_coef", "cat_bias"}
    again = load_or_train(examples, tmp_path)
    for text in ("哪个师傅得空 帮我看哈厕所 冲不下去了", "谢谢大家", "家里的灯一闪一闪的"):
        assert again.scores(text) == first.scores(text) == _repository_model().scores(text)


def test_a_changed_corpus_makes_a_new_cache_file(tmp_path: Path) -> None:
    examples = training_examples(load_config(CONFIG))
    load_or_train(examples, tmp_path)
    load_or_train([*examples, Example("楼顶水箱漏了 哪个来看下", True, ("家电水电维修",))], tmp_path)
    assert len(list(tmp_path.glob("intake-model-*.npz"))) == 2


def test_an_unreadable_cache_is_trained_again(tmp_path: Path, caplog) -> None:
    examples = training_examples(load_config(CONFIG))
    load_or_train(examples, tmp_path)
    [cached] = list(tmp_path.glob("intake-model-*.npz"))
    cached.write_bytes(b"not an npz file")
    model = load_or_train(examples, tmp_path)
    assert model.scores("谢谢大家").need < 0.25 and "unreadable" in caplog.text


def test_a_communitys_own_lines_take_effect(tmp_path: Path) -> None:
    """A community adds lines to its own file (``[intake].corpus``); a new model is trained from them."""
    text = "帮我把阳台上的鸽子窝弄走"  # nothing like it in the shipped corpus
    lines = [{"text": f"{text}{i}号楼", "need": True, "category": "家政护工保洁", "phone": [], "address": None,
              "time": None, "budget": None, "kind": "local"} for i in range(1, 40)]
    own = tmp_path / "ours.jsonl"
    own.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    base = load_config(CONFIG)
    before = shared_intake(base).judge(text + "7栋")
    after = build_intake(replace(base, intake=replace(base.intake, corpus=(str(own),)))).judge(text + "7栋")
    assert after.need > before.need and after.outcome == "order" and after.categories == ("家政护工保洁",)


@pytest.mark.parametrize("table, key", [
    ("order_above = 1.5", "order_above"),
    ("order_above = 0.5\nreview_above = 0.6", "review_above"),
    ("review_above = \"low\"", "review_above"),
    ("corpus = [\"missing.jsonl\"]", "corpus"),
    ("threshold = 0.5", "threshold"),
])
def test_bad_intake_settings_name_the_key(tmp_path: Path, table: str, key: str) -> None:
    path = tmp_path / "config.toml"
    text = re.sub(r"\[intake\].*?\n\n", "", CONFIG.read_text(encoding="utf-8"), count=1, flags=re.DOTALL)
    path.write_text(text + f"\n[intake]\n{table}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"intake\.{key}"):
        load_config(path)


def test_filler_cannot_drown_a_need() -> None:
    assert prepare("修水管啊啊啊啊啊啊 电话139 8501 2345") == "修水管啊啊 电话☎"


def test_the_test_split_meets_the_targets() -> None:
    """The issue's targets on the repository's held-out split, as ``linggong intake eval`` prints."""
    from bot.cli.intake import predictor

    config = load_config(CONFIG)
    names = [c.name for c in config.categories]
    report = evaluate(repository_split(names)[1], predictor(config, shared_intake(config)))
    assert report.precision >= 0.97, report.format(10)
    assert report.recall >= 0.97, report.format(10)
    assert report.review_share <= 0.20, report.format(10)
    assert report.category_accuracy >= 0.92, report.format(10)


def test_the_model_knows_every_configured_category() -> None:
    model: Model = _repository_model()
    assert set(model.names) == {c.name for c in load_config(CONFIG).categories}


def test_scoring_is_scikit_learns_arithmetic() -> None:
    """``Model.scores`` (plain numpy) gives what scikit-learn's vectorizer and logistic function give."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from handlers.classifier import NGRAMS

    model = _repository_model()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False,
                                 vocabulary=model.index)
    vectorizer.idf_ = model.idf
    for ex in repository_split()[1][:200]:
        x = vectorizer.transform([prepare(ex.text)])
        expected = 1 / (1 + np.exp(-((x @ model.need_coef)[0] + model.need_bias)))
        assert abs(model.scores(ex.text).need - expected) < 1e-9, ex.text


def test_the_bot_trains_in_a_child_process_and_never_loads_scikit_learn(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from bot.config import load_config; "
              "from handlers.classifier import build_intake; "
              f"i = build_intake(load_config({str(CONFIG)!r}), Path({str(tmp_path)!r})); "
              "assert i.judge('哪个师傅得空 帮我看哈厕所 冲不下去了').outcome == 'order'; "
              "assert 'sklearn' not in sys.modules and 'scipy' not in sys.modules, 'scikit-learn was loaded'")
    for _ in range(2):  # trained in a child the first time, read from the cache the second
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("intake-model-*.npz"))) == 1
