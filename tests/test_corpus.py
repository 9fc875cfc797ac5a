"""The labelled corpus: the loader, the split rule, and ``linggong intake eval``'s figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from handlers.corpus import CorpusError, Example, Outcome, corpus_files, evaluate, is_test, load_corpus, split

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ["搬家配送", "家电水电维修", "家政护工保洁", "开锁换锁", "管道疏通", "家具安装", "陪诊代办"]


def line(text: str, need: bool, category=None, **spans) -> str:
    return json.dumps({"text": text, "need": need, "category": category, "phone": spans.pop("phone", []),
                       "address": None, "time": None, "budget": None, "kind": "test", **spans}, ensure_ascii=False)


@pytest.mark.parametrize("bad, reason", [
    ("{not json", "line 2"),
    (line("", True, "搬家配送"), '"text"'),
    (line("修水管", "yes", "家电水电维修"), '"need"'),
    (line("修水管", True, None), "category"),
    (line("你好", False, "搬家配送"), "null"),
    (line("修飞机", True, "修飞机"), "configured categories"),
    (line("修水管 电话13900000000", True, "家电水电维修", phone=["13911111111"]), '"phone"'),
    (line("修水管", True, "家电水电维修", address="阳光小区"), '"address"'),
], ids=["json", "text", "need", "need-without-category", "category-on-non-need", "unknown-category",
        "phone-not-in-text", "address-not-in-text"])
def test_the_loader_rejects_a_malformed_line_naming_its_number(tmp_path: Path, bad: str, reason: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(line("换锁", True, "开锁换锁") + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="line 2") as error:
        load_corpus(path, CATEGORIES)
    assert reason in str(error.value)


def test_the_split_rule_is_fixed_and_keeps_the_test_lines_out_of_training() -> None:
    examples = [Example(f"第{i}条 修水管", True, ("家电水电维修",)) for i in range(500)]
    train, test = split(examples)
    assert len(train) + len(test) == 500 and 70 < len(test) < 130  # about a fifth
    assert all(is_test(ex.text) for ex in test) and not any(is_test(ex.text) for ex in train)
    # the rule is the text's SHA-1, the same on every machine: these two fall on either side
    assert (is_test("第4条 修水管"), is_test("第5条 修水管")) == (False, True)


def test_every_shipped_corpus_file_loads_and_the_holdout_stays_out_of_the_package() -> None:
    files = corpus_files()
    assert files, "the package ships its corpus"
    for path in files:
        assert load_corpus(path, CATEGORIES)
    holdout = ROOT / "tests" / "intake" / "holdout.jsonl"
    assert holdout.name not in {p.name for p in files} and len(load_corpus(holdout, CATEGORIES)) >= 500
    shipped = {ex.text for p in files for ex in load_corpus(p, CATEGORIES)}
    assert not shipped & {ex.text for ex in load_corpus(holdout, CATEGORIES)}


def test_evaluate_counts_orders_reviews_categories_and_misses() -> None:
    examples = [Example("a", True, ("搬家配送",)), Example("b", True, ("管道疏通",)), Example("c", True, ("开锁换锁",)),
                Example("d", False, ()), Example("e", True, ("搬家配送", "家政护工保洁"))]
    outcomes = {"a": Outcome(order=True, categories=("搬家配送",)),
                "b": Outcome(review=True, categories=("家电水电维修",)),
                "c": Outcome(), "d": Outcome(order=True, categories=("搬家配送",)),
                "e": Outcome(order=True, categories=("家政护工保洁", "搬家配送"))}
    r = evaluate(examples, outcomes.__getitem__)
    assert (r.orders, r.orders_right, r.precision) == (3, 2, 2 / 3)
    assert (r.heard, r.needs, r.recall, r.review_share) == (3, 4, 0.75, 0.25)
    assert (r.category_right, r.categorised) == (2, 3)
    assert [ex.text for ex in r.missed] == ["c"] and [ex.text for ex in r.false_orders] == ["d"]


def test_linggong_intake_eval_prints_the_figures_of_a_small_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join([
        line("发单 明天搬家 要两个人", True, "搬家配送"),  # a marker: an order whatever the model says
        line("哪个师傅得空 帮我看哈厕所 冲不下去了", True, "管道疏通"),  # sure: an order
        line("家里的灯一闪一闪的", True, "家电水电维修"),  # unsure: a review
        line("专业开锁换锁 公安备案 24小时上门 电话13985012345", False),  # an advert: silence
        line("谢谢大家", False),
    ]) + "\n", encoding="utf-8")
    assert main(["--config", str(ROOT / "config.toml"), "intake", "eval", str(path)]) == 0
    out = capsys.readouterr().out
    assert "消息 5 条，其中需求 3 条" in out
    assert "自动发单 2 条，准确率 1.000" in out
    assert "听到的需求（发单或待确认）：3/3 = 1.000" in out
    assert "待确认 1 条（其中 1 条是需求，占需求的 0.333）" in out
    assert "类别判对：3/3 = 1.000" in out


def test_linggong_intake_eval_names_a_bad_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line("换锁", True, "开锁换锁") + "\n{oops\n", encoding="utf-8")
    assert main(["intake", "eval", str(path), "--config", str(ROOT / "config.toml")]) == 2
    assert "line 2" in capsys.readouterr().err


@pytest.mark.parametrize("text, time_wish, budget", [
    ("每周三下午来打扫一次", "每周三下午", None),
    ("这两天有空的师傅来看哈", "这两天", None),
    ("下周搬家 要两个人", "下周", None),
    ("装个衣柜 200左右", None, "200元"),
    ("通个马桶 给100", None, "100元"),
    ("陪我妈去复查 100以内", None, "100元"),
    ("下个月5号搬家", "下个月5号", None),
    ("住5号楼 18号床的老人要人陪", None, None),
    ("电话13908521234 给个师傅", None, None),
], ids=["weekly", "these-days", "next-week", "about", "given", "within", "next-month-date", "not-dates",
        "phone-not-budget"])
def test_time_wishes_and_budgets_the_corpus_showed(text: str, time_wish: str | None, budget: str | None) -> None:
    from handlers.textutil import find_budget, find_time_wish

    assert (find_time_wish(text), find_budget(text)) == (time_wish, budget)
