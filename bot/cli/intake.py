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

from bot.cli.common import add_db, database
from bot.config import Config
from handlers.classifier import Intake, build_intake
from handlers.commands import PostNeed
from handlers.corpus import Outcome, evaluate, load_corpus, repository_split
from handlers.parse import parse_message
from storage import open_repository


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("intake", parents=[common], help="measure intake on labelled messages; export staff decisions")
    actions = p.add_subparsers(dest="action", required=True)
    e = actions.add_parser("eval", parents=[common], help="need precision/recall and category accuracy")
    e.add_argument("file", nargs="?", help="a labelled JSONL file (default: the repository's test split)")
    e.add_argument("--misses", type=int, default=20, help="how many missed needs and false orders to list")
    e.set_defaults(func=eval_command)
    x = actions.add_parser("export", parents=[common], help="staff decisions as corpus lines (JSONL)")
    x.add_argument("--out", help="write to this file (default: print)")
    x.add_argument("--community", help="only this community")
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
    print(evaluate(examples, predictor(config, build_intake(config))).format(args.misses))
    return 0


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
        print(f"wrote {len(lines)} labelled lines to {args.out}", file=sys.stderr)
    else:
        for line in lines:
            print(line)
    return 0
