"""``linggong intake eval [FILE.jsonl]`` and ``linggong intake export``.

``eval`` measures how well intake hears residents on a labelled file (without one, the
repository's test split, ``handlers.corpus``).  The predictor is the intake the bot runs:
``handlers.parse.parse_message`` with the configured categories and the classifier trained
as at start-up (markers and commands first, then the model's order / review / silence).

``export`` writes the decisions staff made on uncertain messages (确认/不是/category
corrections, kept masked in ``intake_labels``) as corpus lines, so a community can review them
and add them to its own corpus file (``[intake].corpus``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.cli.common import MESSAGES, add_db, database, say
from bot.config import Config
from handlers.classifier import Intake, build_intake
from handlers.commands import PostNeed
from handlers.corpus import Outcome, Report, evaluate, load_corpus, repository_split
from handlers.parse import parse_message
from storage import open_repository


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("intake", parents=[common], help="在标注好的消息上检验机器人听懂需求的程度；导出网格员的判断",
                       description="  eval     在标注好的消息上检验：需求听到了多少、自动发单准不准、类别对不对\n"
                                   "  export   把网格员对待确认消息的判断（确认、不是、改类别）导出成语料行")
    actions = p.add_subparsers(dest="action", required=True, metavar="{eval,export}")
    e = actions.add_parser("eval", parents=[common], help="需求的准确率、听到率和类别准确率",
                           description="用机器人实际使用的识别方法，检验它在一个标注文件上的表现：自动发单的准确率、"
                                       "需求听到了多少（发单或待确认）、类别判对了多少；列出漏掉的需求和误发的单。")
    e.add_argument("file", nargs="?", metavar="标注文件.jsonl", help="标注好的 JSONL 文件（默认：仓库自带的测试集）")
    e.add_argument("--misses", type=int, default=20, metavar="条数", help="漏掉的需求和误发的单各列出几条（默认 20）")
    e.set_defaults(func=eval_command)
    x = actions.add_parser("export", parents=[common], help="网格员的判断，导出成语料行（JSONL）",
                           description="把网格员对待确认消息的判断导出成语料行（JSONL，电话和门牌已打码），"
                                       "社区核对后可以加进自己的语料文件（config.toml 的 [intake] corpus）。")
    x.add_argument("--out", metavar="文件", help="写到这个文件（默认：打印出来）")
    x.add_argument("--community", metavar="社区", help="只导出这个社区")
    add_db(x)
    x.set_defaults(func=export_command)


def predictor(config: Config, intake: Intake):
    def predict(text: str) -> Outcome:
        command = parse_message(text, config.categories, intake=intake)
        if isinstance(command, PostNeed):
            categories = tuple(n.category for n in (command.need, command.second) if n is not None and n.category)
            return Outcome(order=not command.review, review=command.review, categories=categories)
        return Outcome()
    return predict


async def eval_command(args: argparse.Namespace, config: Config) -> int:
    names = [c.name for c in config.categories]  # a bad line raises CorpusError: main reports it
    examples = load_corpus(args.file, names) if args.file else repository_split(names)[1]
    print(report_text(evaluate(examples, predictor(config, build_intake(config))), args.misses))
    return 0


def report_text(r: Report, misses: int = 20) -> str:
    """The figures of an evaluation in Chinese (templates/labels.toml [cli.intake])."""
    words = MESSAGES["intake"]
    lines = [
        words["messages"].format(messages=r.messages, needs=r.needs),
        words["orders"].format(orders=r.orders, precision=r.precision),
        words["heard"].format(heard=r.heard, needs=r.needs, recall=r.recall),
        words["reviews"].format(reviews=r.reviews, reviews_of_needs=r.reviews_of_needs, review_share=r.review_share),
        words["categories"].format(right=r.category_right, categorised=r.categorised, accuracy=r.category_accuracy),
    ]
    wrong = [(k, n) for k, n in r.confusion.most_common() if k[0] != k[1]]
    if wrong:
        lines.append(words["confusions"])
        lines += [f"  {a or '-'} -> {b or '-'}：{n}" for (a, b), n in wrong]
    for key, items in (("missed", r.missed), ("false_orders", r.false_orders)):
        if items:
            lines.append(words[key].format(count=len(items), shown=min(misses, len(items))))
            lines += [f"  {ex.text}" for ex in items[:misses]]
    return "\n".join(lines)


def corpus_line(label: dict) -> str:
    """One kept decision in the corpus format (spans are not known: phones and doors are masked)."""
    return json.dumps({"text": label["text"], "need": label["need"], "category": label["category"],
                       "phone": [], "address": None, "time": None, "budget": None,
                       "kind": f"staff_{label['decision']}"}, ensure_ascii=False)


async def export_command(args: argparse.Namespace, config: Config) -> int:
    repo = await open_repository(database(args, config))
    try:
        async with repo.transaction() as tx:
            labels = await tx.intake_labels(args.community)
    finally:
        await repo.close()
    lines = [corpus_line(label) for label in dict((x["text"], x) for x in labels).values()]  # the last word wins
    if args.out:
        Path(args.out).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(say("labels_written", count=len(lines), path=args.out), file=sys.stderr)
    else:
        for line in lines:
            print(line)
    return 0
