"""The web side's words live in templates/ (labels.toml [web.*], templates/web/*), not in bot/web/*.py.

Only chat grammar, the commands the pages send to the bot as messages, stays in Python.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.render import Renderer, load_labels
from bot.web.actions import qr_order_text

WEB_SOURCES = sorted((Path(__file__).resolve().parent.parent / "bot" / "web").glob("*.py"))
CJK = re.compile(r"[\u4e00-\u9fff]")

# Pieces of chat commands (f-strings are split at their fields): parsed by handlers.parse, not display text.
GRAMMAR = {
    "派单", "指派", "改派", "取消", "完成", "通过", "停用",  # the dashboard's and the roster's chat verbs
    "派单 ", " 报酬", "元", " 备注 ", "指派 ", "取消 ", " 原因 ", "改派 ",  # dashboard.command_for
    "派单 {no}", "接{no}", "完成{no}", "满意{no}", "今日统计",  # the simulator's walk-through
}


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    return {id(n.body[0].value) for n in nodes
            if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def _msgs_paths(tree: ast.Module) -> set[tuple[str, ...]]:
    """Every constant key path read from ``msgs`` / ``….msgs``, e.g. ("login", "bad_password")."""
    paths = set()
    for node in ast.walk(tree):
        keys: list[str] = []
        while isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            keys.insert(0, node.slice.value)
            node = node.value
        if keys and (isinstance(node, ast.Name) and node.id == "msgs"
                     or isinstance(node, ast.Attribute) and node.attr == "msgs"):
            paths.add(tuple(keys))
    return paths


@pytest.mark.parametrize("path", WEB_SOURCES, ids=lambda p: p.name)
def test_web_sources_hold_no_user_facing_chinese_but_chat_grammar(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    found = {n.value for n in ast.walk(tree)
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
             and CJK.search(n.value)}
    assert found <= GRAMMAR, sorted(found - GRAMMAR)


def test_every_web_word_the_code_reads_is_in_labels_toml() -> None:
    words = load_labels()["web"]
    used = set().union(*(_msgs_paths(ast.parse(p.read_text(encoding="utf-8"))) for p in WEB_SOURCES))
    assert len(used) > 50
    for keys in sorted(used):
        node = words
        for key in keys:
            assert isinstance(node, dict) and key in node, keys
            node = node[key]


def test_every_web_word_in_labels_toml_is_read_somewhere() -> None:
    used = set().union(*(_msgs_paths(ast.parse(p.read_text(encoding="utf-8"))) for p in WEB_SOURCES))

    def leaves(table: dict, prefix: tuple[str, ...] = ()):
        for key, value in table.items():
            if isinstance(value, dict) and prefix + (key,) not in used:
                yield from leaves(value, prefix + (key,))
            else:
                yield prefix + (key,)

    unread = [keys for keys in leaves(load_labels()["web"])
              if not any(keys[:len(u)] == u for u in used)]  # msgs["roles"][role] reads all of [web.roles]
    assert unread == []


@pytest.mark.parametrize(("fields", "message"), [
    (("卫生间热水器不出热水", "金鼎苑5幢1单元302室", "明天上午", "13712345678", "家电水电维修"),
     "发单 地址：金鼎苑5幢1单元302室，时间：明天上午。卫生间热水器不出热水。电话：13712345678（家电水电维修）"),
    (("家里灯坏了", "阳光小区5栋1单元201室", "", "0851-86801234", ""),
     "发单 地址：阳光小区5栋1单元201室。家里灯坏了。电话：0851-86801234"),
    (("{{7*7}} {% raw %}", "洗马路{12}号", "周末", "13908529999", ""),  # user text stays data
     "发单 地址：洗马路{12}号，时间：周末。{{7*7}} {% raw %}。电话：13908529999"),
])
def test_the_qr_intake_message_is_the_chat_message_the_parser_expects(fields: tuple[str, ...], message: str) -> None:
    assert qr_order_text(Renderer(ZoneInfo("Asia/Shanghai")), *fields) == message
