"""Everything the ``linggong`` command line says to a person is Chinese (issue 16 item 5).

Every sub-command's ``-h`` (found from the parser, not listed here) and a set of representative
invocations run as ``python -m bot …`` subprocesses on a temporary database and a copy of
config.toml; no line they print may hold English prose (three Latin words in a row once option
names, paths, URLs, ids and the program's name are taken out).  Machine outputs are not prose:
``--json``, ``replay``'s JSON lines and data files keep their English keys and raw values.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import parser
from bot.cli.parsing import ARGPARSE_MESSAGES, Parser, text_width, translate, wrap
from tests.conftest import ROOT

WIDTH = 80  # COLUMNS for every subprocess: argparse wraps help to the terminal's width

PROSE = re.compile(r"\b[a-zA-Z]{2,}(?:\s+[a-zA-Z]{2,}){2,}\b")
NOT_PROSE = re.compile("|".join([
    r"[a-z][a-z0-9+.-]*://\S*",  # URLs: postgresql://…, http://…
    r"(?<!\w)--?[a-zA-Z][\w-]*",  # option names: --db, --config, -h
    r"\S*[/\\]\S*",  # paths
    r"\b[\w.-]+\.(?:toml|db|jsonl|json|csv|xlsx|xls|txt|npz)\b",  # file names
    r"\bwxid_\w+",  # WeChat ids
    r"\blinggong\b",
    r"\{[^}]*\}",  # choices as usage shows them: {daily,ranking}
    r"\b[A-Z][A-Z0-9_]+\b",  # JSON, CSV, SQLite's cousins in capitals, environment variables
    r"\b\d+(?:\.\d+)?\b",  # numbers do not break up prose: wrote 9 orders to
]))
ARGPARSE_WORDS = ("usage:", "options:", "positional arguments", "show this help", "error:",
                  "the following arguments", "invalid choice", "unrecognized arguments", "expected one argument",
                  "Traceback")


def english(text: str) -> list[str]:
    """The lines of ``text`` that hold English prose or argparse's own English words."""
    return [line for line in text.splitlines()
            if PROSE.search(NOT_PROSE.sub(" ", line)) or any(w in line for w in ARGPARSE_WORDS)]


# -- the subprocesses -----------------------------------------------------------------------------

@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"linggong {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.out}--- stderr\n{self.err}"


class Workspace:
    """A folder with a copy of config.toml (found there, as in a station's install) and a database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = str(folder / "linggong.db")
        shutil.copy(ROOT / "config.toml", folder / "config.toml")
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(WIDTH), "LINES": "40",
                    "CACHE_DIR": str(folder / "cache")}
        self.env.pop("LINGGONG_LOG", None)

    def run(self, *args: str) -> Run:
        done = subprocess.run([sys.executable, "-m", "bot", *args], check=False, cwd=self.folder, env=self.env,
                              capture_output=True, text=True, encoding="utf-8", timeout=120)
        return Run(args, done.returncode, done.stdout, done.stderr)

    def runs(self, *invocations: tuple[str, ...]) -> list[Run]:
        """Several independent invocations, a few at a time."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            return list(pool.map(lambda a: self.run(*a), invocations))


def message(at: str, room: str | None, who: str, text: str, who_id: str | None = None) -> dict:
    line = {"at": f"2026-11-23 {at}", "from": who, "text": text}
    line.update({"room": room} if room else {"dm": True})
    return {**line, "from_id": who_id} if who_id else line


GRID1, GRID2, MARKET = "洗马社区第一网格群", "洗马社区第二网格群", "洗马社区零工市场群"
CHAT = [  # three orders: one taken, one waiting for a taker, one posted by a resident with a Latin name
    message("08:01:05", GRID1, "张阿姨", "发单 明天搬家 要两个人 阳光小区3栋 电话13908521234"),
    message("08:03:00", GRID1, "杨先媚", "派单 1 报酬80元", "wxid_yangxianmei"),
    message("08:03:05", MARKET, "熊明祥", "接1", "wxid_xiongmingxiang"),
    message("08:10:00", GRID2, "周叔叔", "发单 厨房水管漏水 帮忙修一下 电话13908525678"),
    message("08:12:00", GRID2, "王晓红", "派单 2", "wxid_wangxiaohong"),
    message("08:20:00", GRID1, "Tom", "发单 家里灯不亮了 想找个电工 电话13908529999"),
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    """The workspace, its database made by replaying ``CHAT`` (the bot's own path, one subprocess)."""
    ws = Workspace(tmp_path_factory.mktemp("cli"))
    chat = ws.folder / "chat.jsonl"
    chat.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in CHAT), encoding="utf-8")
    replayed = ws.run("replay", str(chat), "--db", ws.db)
    assert replayed.code == 0, replayed
    lines = [json.loads(line) for line in replayed.out.splitlines()]  # replay prints data: JSON lines
    assert lines and all(set(line) == {"at", "room", "dm", "text", "mentions"} for line in lines)
    return ws


# -- help ---------------------------------------------------------------------------------------

def commands(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser, ``()`` for linggong itself: ("orders",), ("intake", "eval")…"""
    found = [path]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found


COMMANDS = commands(parser())


def test_the_commands_are_found_from_the_parser() -> None:
    assert {("orders",), ("workers",), ("intake", "eval"), ("intake", "export"), ("status",)} <= set(COMMANDS)
    assert len(COMMANDS) > 15


def test_every_help_is_chinese(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    runs = ws.runs(*((*path, "-h") for path in COMMANDS))
    problems = []
    for path, run in zip(COMMANDS, runs):
        lines = run.out.splitlines()
        if run.code != 0 or run.err or not lines:
            problems.append(f"failed: {run}")
            continue
        if not lines[0].startswith("用法：linggong"):
            problems.append(f"{path}: usage line {lines[0]!r}")
        if "-h, --help" not in run.out or "显示帮助并退出" not in run.out or "选项：" not in run.out:
            problems.append(f"{path}: no Chinese -h / 选项")
        problems += [f"{path}: English: {line!r}" for line in english(run.out)]
        problems += [f"{path}: wider than {WIDTH}: {line!r}" for line in lines
                     if text_width(line) > WIDTH and not any(len(t) > 30 and t.isascii() for t in line.split())]
        if not re.search(r"[\u4e00-\u9fff]", "\n".join(lines[1:])):
            problems.append(f"{path}: no Chinese text")
    assert not problems, "\n".join(problems)


def test_every_option_and_command_has_a_chinese_help_text() -> None:
    problems = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        if not p.description or not re.search(r"[\u4e00-\u9fff]", p.description):
            problems.append(f"{path}: description {p.description!r}")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not re.search(r"[\u4e00-\u9fff]", choice.help or ""):
                        problems.append(f"{path} {choice.dest}: help {choice.help!r}")
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not re.search(r"[\u4e00-\u9fff]", action.help or ""):
                problems.append(f"{path} {'/'.join(action.option_strings) or action.dest}: help {action.help!r}")

    walk(parser(), "linggong")
    assert not problems, "\n".join(problems)


# -- argparse's errors --------------------------------------------------------------------------

ARGUMENT_ERRORS = {  # what is typed -> what the error says
    (): "错误：缺少参数：命令",
    ("nosuch",): "错误：不认识的命令 'nosuch'（可选：replay、orders、",
    ("orders", "--bogus"): "错误：不认识的参数：--bogus",
    ("orders", "--status", "nope"): "错误：--status：无效的选项值 'nope'（可选：pending_review、posted、",
    ("orders", "--db"): "错误：--db：后面要跟一个值",
    ("orders", "--co", "x"): "错误：选项 --co 不明确，可能是：--config、--community",
    ("report",): "错误：缺少参数：{daily,ranking}",
    ("report", "weekly"): "错误：{daily,ranking}：无效的选项值 'weekly'（可选：daily、ranking）",
    ("bind", "--hours", "abc"): "错误：--hours：无效的选项值 'abc'（应为数字）",
    ("gateway", "--port", "x"): "错误：--port：无效的选项值 'x'（应为整数）",
    ("export", "--from", "2026-11-01"): "错误：缺少参数：--to",
    ("intake",): "错误：缺少参数：{eval,export}",
    ("intake", "nosuch"): "错误：不认识的命令 'nosuch'（可选：eval、export）",
    ("backup",): "错误：缺少参数：备份文件",
}


TYPED = [(), ("nosuch",), ("orders", "--bogus")]


def check_argument_error(args: tuple[str, ...], code: int, out: str, err: str) -> list[str]:
    command = "linggong " + next((a for a in args if a in {p[0] for p in COMMANDS if p}), "")
    problems = []
    if code != 2 or out:
        problems.append(f"{args}: exit status {code} or stdout {out!r}")
    if ARGUMENT_ERRORS[args] not in err:
        problems.append(f"{args}: expected {ARGUMENT_ERRORS[args]!r} in {err!r}")
    if not err.startswith("用法：linggong") or f"用 {command.strip()} -h 看用法" not in err:
        problems.append(f"{args}: usage or hint ({command.strip()}) in {err!r}")
    return problems + [f"{args}: English: {line!r}" for line in english(err)]


def test_argparse_errors_are_chinese_with_a_hint(tmp_path: Path) -> None:
    """Three as the station types them (subprocesses), the rest through main() in this process."""
    ws = Workspace(tmp_path)
    problems = []
    for args, run in zip(TYPED, ws.runs(*TYPED)):
        problems += check_argument_error(args, run.code, run.out, run.err)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("args", [a for a in ARGUMENT_ERRORS if a not in TYPED], ids=" ".join)
def test_each_argparse_error_in_chinese(args: tuple[str, ...], capsys, monkeypatch) -> None:
    from bot.cli import main

    monkeypatch.setenv("COLUMNS", str(WIDTH))
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    problems = check_argument_error(args, exited.value.code, captured.out, captured.err)
    assert not problems, "\n".join(problems)


def test_every_argparse_template_is_translated_and_unknown_words_still_show() -> None:
    p = Parser(prog="linggong")
    p.add_argument("--hours", type=float)
    fields = {"argument_name": "--hours", "message": "expected one argument", "value": "'x'", "choices": "'a', 'b'",
              "type": "float", "option": "--ho", "matches": "--hours, --home", "filename": "a.txt",
              "error": "denied", "parser_name": "'x'"}
    for template in ARGPARSE_MESSAGES:
        text = template % fields if "%(" in template else template.replace("%s", "--x").replace("%r", "'x'")
        translated = translate(text, p)
        assert translated != text and re.search(r"[\u4e00-\u9fff]", translated), template
        assert not english(translated), (template, translated)
    assert translate("argument --hours: expected one argument", p) == "--hours：后面要跟一个值"
    assert translate("something argparse says in a later Python", p) == "something argparse says in a later Python"
    assert translate("argument --hours: a new message", p) == "--hours：a new message"  # the name is still shown


# -- the commands' results and errors ------------------------------------------------------------

def aligned(lines: list[str]) -> bool:
    """Whether every cell starts at the same terminal column as its header (cells are split by two
    spaces or more; wide characters count two columns)."""
    def starts(line: str) -> list[int]:
        return [text_width(line[:m.start()]) for m in re.finditer(r"(?:(?<=\s\s)|^)\S", line)]
    return len({tuple(starts(line)) for line in lines}) == 1


def test_orders_is_a_chinese_table_in_aligned_columns(ws: Workspace) -> None:
    run = ws.run("orders", "--db", ws.db)
    assert run.code == 0 and not run.err, run
    lines = run.out.splitlines()
    assert lines[0].split() == ["单号", "社区", "网格", "状态", "类别", "居民", "接单人", "发单", "派单", "接单",
                                "完成", "评价"]
    assert len(lines) == 4 and aligned(lines), run.out
    assert {line.split()[3] for line in lines[1:]} == {"已接单", "待接单", "待派单"}
    assert "#1" in run.out and "熊明祥" in run.out and "Tom" in run.out
    assert not english(run.out)
    only = ws.run("orders", "--db", ws.db, "--status", "已接单")  # a status by its Chinese name
    assert only.code == 0 and len(only.out.splitlines()) == 2 and "熊明祥" in only.out, only


def test_orders_json_keeps_english_keys_and_raw_values(ws: Workspace) -> None:
    run = ws.run("orders", "--db", ws.db, "--json")
    assert run.code == 0 and not run.err, run
    rows = [json.loads(line) for line in run.out.splitlines()]
    assert all(set(r) == {"no", "community", "grid", "status", "category", "resident", "taker", "created",
                          "dispatched", "taken", "done", "rating"} for r in rows)
    assert sorted(r["status"] for r in rows) == ["dispatched", "posted", "taken"]
    assert rows[0]["created"] == "2026-11-23 08:01:05"


def test_config_is_read_before_or_after_the_command(ws: Workspace) -> None:
    config = str(ws.folder / "config.toml")
    before, after, missing_before, missing_after = ws.runs(
        ("--config", config, "orders", "--db", ws.db), ("orders", "--db", ws.db, "--config", config),
        ("--config", "nothere.toml", "orders", "--db", ws.db), ("orders", "--db", ws.db, "--config", "nothere.toml"))
    assert before.code == after.code == 0 and before.out == after.out and "熊明祥" in before.out, (before, after)
    for run in (missing_before, missing_after):  # bot/config.py's words follow the Chinese, as they are
        assert run.code == 2 and run.err.startswith("错误：配置文件有误：nothere.toml"), run


@dataclass
class Case:
    args: tuple[str, ...]
    code: int
    shows: str  # on stdout (status 0) or stderr
    where: str = "out"


def cases(ws: Workspace) -> list[Case]:
    f = ws.folder
    (f / "bad.csv").write_text("姓名,电话\n张三,1\n", encoding="utf-8")
    (f / "small.jsonl").write_text("".join(json.dumps(
        {"text": text, "need": need, "category": category, "phone": [], "address": None, "time": None,
         "budget": None, "kind": "test"}, ensure_ascii=False) + "\n" for text, need, category in [
        ("发单 明天搬家 要两个人", True, "搬家配送"), ("谢谢大家", False, None)]), encoding="utf-8")
    db = ("--db", ws.db)
    return [
        Case(("export", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(f / "o.xlsx"), *db), 0,
             "已导出 3 个订单到", "err"),
        Case(("export", "--from", "2026-11-30", "--to", "2026-11-01", *db), 2, "错误：--to 2026-11-01 比 --from",
             "err"),
        Case(("export", "--from", "11月1日", "--to", "2026-11-30", *db), 2, "不是日期，请写成 2026-11-23", "err"),
        Case(("backup", str(f / "backup.db"), *db), 0, "个订单，9 名零工"),
        Case(("status", *db), 2, "还没有记录"),
        Case(("report", "daily", "--date", "2026-11-23", *db), 0, "接单统计"),
        Case(("report", "daily", "--community", "无此社区", *db), 2, "里没有这个社区（有：洗马社区、茅草西社区）",
             "err"),
        Case(("bind", "--people", *db), 0, "已绑定 wxid_yangxianmei"),
        Case(("bind", "--hours", "0", *db), 2, "错误：--hours 要大于 0", "err"),
        Case(("workers", "export", str(f / "w.csv"), *db), 0, "洗马社区的零工名册已导出到"),
        Case(("workers", "import", str(f / "bad.csv"), *db), 2, "没有导入任何一行", "err"),
        Case(("workers", "import", str(f / "nothere.csv"), *db), 2, "找不到这个文件", "err"),
        Case(("workers", "import"), 2, "要给一个文件", "err"),
        Case(("workers", "template", "--out", str(f / "t.xlsx")), 0, "零工名册模板已写到"),
        Case(("intake", "eval", str(f / "small.jsonl")), 0, "消息 2 条，其中需求 1 条"),
        Case(("intake", "export", "--out", str(f / "labels.jsonl"), *db), 0, "已把 0 条标注写到", "err"),
        Case(("migrate", "--to", f"sqlite:///{f / 'fresh.db'}"), 0, "数据库结构版本"),
        Case(("replay", str(f / "nothere.jsonl")), 2, "找不到这个文件", "err"),
    ]


def test_results_and_errors_are_chinese(ws: Workspace) -> None:
    todo = cases(ws)
    runs = ws.runs(*(c.args for c in todo))
    problems = []
    for case, run in zip(todo, runs):
        if run.code != case.code or case.shows not in (run.out if case.where == "out" else run.err):
            problems.append(f"expected {case.code} and {case.shows!r}: {run}")
        if case.where == "err" and run.code != 0 and not run.err.startswith("错误："):  # status 2 is a state
            problems.append(f"an error not after 错误：: {run}")
        problems += [f"English: {line!r} in {run.args}" for line in english(run.out + run.err)]
    assert not problems, "\n".join(problems)
    good = ws.run("workers", "import", str(ws.folder / "w.csv"), "--db", ws.db)  # the roster just exported
    assert good.code == 0 and good.out.startswith("已导入 ") and "新增 0 名，更新" in good.out, good
    assert not english(good.out + good.err)


def test_the_check_catches_what_the_commands_used_to_say() -> None:
    said = ["wrote 1 orders to orders-2026-11-01-2026-11-30.xlsx",
            "imported 3 workers into 洗马社区: 1 added, 2 updated",
            "backup written to /tmp/b.db: 9 orders, 9 workers, 0.2 MB, integrity check ok",
            "error: --community '无此' is not in config.toml (communities: 洗马社区)",
            "usage: linggong orders [-h]", "options:", "  -h, --help  show this help message and exit",
            "linggong: error: the following arguments are required: command"]
    assert [line for line in said if not english(line)] == []
    fine = ["已导出 3 个订单到 /tmp/x/orders-2026-11-01-2026-11-30.xlsx", "用 linggong workers import -h 看用法",
            "数据库文件，或 postgresql://linggong@db:5432/linggong 地址（默认：配置文件里的 bot.database）",
            "洗马社区	网格员	杨先媚	已绑定 wxid_yangxianmei", "用法：linggong report [-h] {daily,ranking}",
            "  --status {pending_review,posted,dispatched,taken,done,cancelled,dismissed}"]
    assert [line for line in fine if english(line)] == []


# -- pieces -------------------------------------------------------------------------------------

def test_console_instructions_are_chinese() -> None:
    from bot.cli.console import COMMANDS as CONSOLE

    lines = CONSOLE.splitlines()
    assert [line.split()[0] for line in lines] == ["/in", "/dm", "/as", "/rooms", "/quit"]
    assert not english(CONSOLE) and aligned(lines)


def test_wide_characters_are_two_columns_and_lines_wrap_by_columns() -> None:
    assert text_width("洗马社区") == 8 and text_width("#1 Tom") == 6 and text_width("（可选：）") == 10
    text = "数据库文件，或 postgresql://linggong@db:5432/linggong 地址（默认：配置文件里的 bot.database）" * 3
    for width in (20, 33, 60):
        lines = wrap(text, width)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        assert all(text_width(line) <= width for line in lines if "postgresql" not in line)
        assert not any(line.startswith(("，", "）", "：")) for line in lines)
