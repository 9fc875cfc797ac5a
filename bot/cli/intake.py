"""``linggong intake eval [FILE.jsonl]``: how well intake hears residents, on a labelled file.

Without a file it measures the repository's test split (``handlers.corpus``).  The predictor is
the intake the bot runs: ``handlers.parse.parse_message`` with the configured categories.
"""

from __future__ import annotations

import argparse

from bot.config import Config
from handlers.commands import PostNeed
from handlers.corpus import Outcome, evaluate, load_corpus, repository_split
from handlers.parse import parse_message


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("intake", parents=[common], help="measure intake on labelled messages")
    actions = p.add_subparsers(dest="action", required=True)
    e = actions.add_parser("eval", parents=[common], help="need precision/recall and category accuracy")
    e.add_argument("file", nargs="?", help="a labelled JSONL file (default: the repository's test split)")
    e.add_argument("--misses", type=int, default=20, help="how many missed needs and false orders to list")
    e.set_defaults(func=eval_command)


def predictor(config: Config):
    def predict(text: str) -> Outcome:
        command = parse_message(text, config.categories)
        if isinstance(command, PostNeed):
            category = command.need.category
            return Outcome(order=True, categories=(category,) if category else ())
        return Outcome()
    return predict


async def eval_command(args: argparse.Namespace, config: Config) -> int:
    names = [c.name for c in config.categories]  # a bad line raises CorpusError: main reports it
    examples = load_corpus(args.file, names) if args.file else repository_split(names)[1]
    print(evaluate(examples, predictor(config)).format(args.misses))
    return 0
