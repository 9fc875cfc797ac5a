"""argparse in Chinese: the parser class and help formatter every ``linggong`` command uses.

``Parser`` is an ``argparse.ArgumentParser`` whose own words are Chinese: 「用法：」, the section
titles 位置参数 / 选项, its own ``-h, --help``, and its error messages, translated by
``ARGPARSE_MESSAGES``, a table keyed on the message templates of argparse (Python 3.11).  A message
the table does not know is shown as argparse wrote it, never dropped.  Errors go to stderr as
「错误：…」 with a hint naming the command's ``-h``; the exit status is 2, as argparse's.

``Formatter`` counts East Asian wide characters as two columns, so Chinese help lines wrap at the
terminal's width and the option column lines up.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from typing import Any, NoReturn

ERROR = "错误：{message}"
HINT = "用 {prog} -h 看用法"
USAGE = "用法："
POSITIONALS = "位置参数"
OPTIONALS = "选项"
HELP = "显示帮助并退出"
LIST = "、"  # between the items of a list: 可选：xlsx、csv

# argparse's message templates (Lib/argparse.py, Python 3.11) -> ours, with the same %-fields.
# %(value)r stays quoted as argparse quotes it; lists (%(choices)s, names) are re-joined with 、.
ARGPARSE_MESSAGES: dict[str, str] = {
    "the following arguments are required: %s": "缺少参数：%s",
    "unrecognized arguments: %s": "不认识的参数：%s",
    "argument %(argument_name)s: %(message)s": "%(argument_name)s：%(message)s",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选项值 %(value)s（可选：%(choices)s）",
    "invalid %(type)s value: %(value)r": "无效的选项值 %(value)s（应为%(type)s）",
    "expected one argument": "后面要跟一个值",
    "expected at most one argument": "后面最多跟一个值",
    "expected at least one argument": "后面至少要跟一个值",
    "expected %s argument": "后面要跟 %s 个值",
    "expected %s arguments": "后面要跟 %s 个值",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 不明确，可能是：%(matches)s",
    "not allowed with argument %s": "不能和 %s 一起用",
    "one of the arguments %s is required": "%s 必须给一个",
    "ignored explicit argument %r": "这个选项后面不带值（多给了 %s）",
    "unexpected option string: %s": "多余的选项 %s",
    "can't open '%(filename)s': %(error)s": "打不开 %(filename)s：%(error)s",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "不认识的命令 %(parser_name)s（可选：%(choices)s）",
}
UNRECOGNIZED = "unrecognized arguments: %s"  # argparse's words, reported by Parser.parse_args (then translated)
# a wrong command name (the choices of a sub-command action) reads better without the argument's name
UNKNOWN_COMMAND = "不认识的命令 %(value)s（可选：%(choices)s）"
TYPE_NAMES = {"int": "整数", "float": "数字", "Path": "文件路径", "str": "文字"}  # %(type)s of invalid value
LIST_FIELDS = ("choices", "matches")  # 'a', 'b' -> a、b
REQUIRED = "the following arguments are required: %s"  # its names are shown as the usage line shows them
INVALID_CHOICE = "invalid choice: %(value)r (choose from %(choices)s)"  # of a sub-command: UNKNOWN_COMMAND


def _compile(template: str) -> re.Pattern[str]:
    pattern, fields, at = "", 0, 0
    for m in re.finditer(r"%\((\w+)\)[sr]|%[sr]", template):
        pattern += re.escape(template[at:m.start()])
        name = m.group(1) or f"_{fields}"
        fields += m.group(1) is None
        pattern += f"(?P<{name}>.+?)"
        at = m.end()
    return re.compile(pattern + re.escape(template[at:]), re.DOTALL)


def _anonymous(template: str) -> str:
    """``%s`` -> ``%(_0)s``: every field named, so a template formats from one dict."""
    count = iter(range(100))
    return re.sub(r"%([sr])(?!\w)", lambda m: f"%(_{next(count)}){m.group(1)}", template)


_TABLE = {template: (_compile(template), _anonymous(ours)) for template, ours in ARGPARSE_MESSAGES.items()}


def text_width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide and full-width characters take two."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(width - text_width(text), 0)


_TOKENS = re.compile(r"\s+|[^\s]")
_NO_LINE_START = set("，。、；：！？）」』》”’,.;:!?)")  # closing punctuation stays with what it closes
_NO_LINE_END = set("（「『《“‘(")


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of at most ``width`` columns: between any two Chinese characters
    or at spaces (a Latin word, option or path is never split)."""
    words: list[str] = []  # a run of non-wide non-space characters, one wide character, or " "
    for token in _TOKENS.findall(text):
        if token.isspace():
            words.append(" ")
        elif text_width(token) == 2 or not words or words[-1] == " " or text_width(words[-1][-1]) == 2:
            words.append(token)
        else:
            words[-1] += token
    lines: list[str] = []
    line: list[str] = []  # the words of the line being filled
    for word in words:
        if word == " ":
            if line and line[-1] != " ":
                line.append(" ")
            continue
        if any(w != " " for w in line) and text_width("".join(line) + word) > width:
            carry: list[str] = []  # 「，」 never starts a line, 「（」 never ends one
            while len(line) > 1 and line[-1] != " " and ((carry or [word])[0][0] in _NO_LINE_START
                                                         or line[-1][-1] in _NO_LINE_END):
                carry.insert(0, line.pop())
            lines.append("".join(line).rstrip())
            line = carry
        line.append(word)
    if "".join(line).strip():
        lines.append("".join(line).rstrip())
    return lines or [""]


def _display_name(action: argparse.Action) -> str:
    """How the usage line names ``action``: its option strings, metavar, or {choices}."""
    if action.option_strings:
        return "/".join(action.option_strings)
    if action.metavar not in (None, argparse.SUPPRESS):
        return str(action.metavar)
    if action.choices:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return str(action.dest)


def _action_named(parser: argparse.ArgumentParser, name: str) -> argparse.Action | None:
    return next((a for a in parser._actions if argparse._get_action_name(a) == name), None)


def _listed(text: str) -> str:
    """``'a', 'b'`` or ``--a, --b`` (argparse's lists) -> ``a、b``; anything else unchanged."""
    items = re.findall(r"'((?:[^'\\]|\\.)*)'", text)
    if items and ", ".join(f"'{i}'" for i in items) == text:
        return LIST.join(items)
    if re.fullmatch(r"-[^\s,]+(, -[^\s,]+)*", text):
        return LIST.join(text.split(", "))
    return text


def translate(message: str, parser: argparse.ArgumentParser | None = None) -> str:
    """argparse's ``message`` in Chinese, by ``ARGPARSE_MESSAGES``; unknown messages unchanged."""
    for template, (pattern, chinese) in _TABLE.items():
        m = pattern.fullmatch(message)
        if m is None:
            continue
        fields: dict[str, Any] = m.groupdict()
        action = _action_named(parser, fields["argument_name"]) if parser and "argument_name" in fields else None
        if isinstance(action, argparse._SubParsersAction):
            inner = _TABLE[INVALID_CHOICE][0].fullmatch(fields["message"])
            if inner is not None:
                return UNKNOWN_COMMAND % {"value": inner["value"], "choices": LIST.join(action.choices)}
        if action is not None:
            fields["argument_name"] = _display_name(action)
        if "message" in fields:
            fields["message"] = translate(fields["message"], parser)
        if "type" in fields:
            fields["type"] = TYPE_NAMES.get(fields["type"], fields["type"])
        for key in LIST_FIELDS:
            if key in fields:
                fields[key] = _listed(fields[key])
        if template == REQUIRED and parser is not None:
            names = [_action_named(parser, n) for n in fields["_0"].split(", ")]
            if all(names):
                fields["_0"] = LIST.join(_display_name(a) for a in names if a)
        return chinese % fields
    return message


class Formatter(argparse.HelpFormatter):
    """argparse's help layout with 「用法：」 and widths in terminal columns (Chinese counts two)."""

    def start_section(self, heading: str | None) -> None:
        super().start_section(heading)
        if isinstance(heading, str):
            self._headings = [*getattr(self, "_headings", []), heading]

    def format_help(self) -> str:
        """argparse's help, with the section titles ending in 「：」 rather than ":"."""
        text = super().format_help()
        for heading in getattr(self, "_headings", []):
            text = re.sub(rf"^( *{re.escape(heading)}):$", r"\1：", text, flags=re.MULTILINE)
        return text

    def add_usage(self, usage, actions, groups, prefix=None) -> None:
        super().add_usage(usage, actions, groups, USAGE if prefix is None else prefix)

    def _format_usage(self, usage, actions, groups, prefix) -> str:
        """argparse's usage lines, wrapped by terminal columns: the options after the program's name,
        the positional arguments on a line of their own when it does not all fit on one."""
        if usage is not None or not actions:
            return super()._format_usage(usage, actions, groups, prefix)
        prefix = USAGE if prefix is None else prefix
        width = self._width - self._current_indent
        part = r"\(.*?\)+(?=\s|$)|\[.*?\]+(?=\s|$)|\S+"
        optionals = re.findall(part, self._format_actions_usage([a for a in actions if a.option_strings], groups))
        for i in range(len(optionals) - 2, -1, -1):  # a required option stays with its value: --to 数据库
            if optionals[i].startswith("-") and not optionals[i + 1].startswith(("-", "[", "(")):
                optionals[i:i + 2] = [f"{optionals[i]} {optionals[i + 1]}"]
        positionals = re.findall(part, self._format_actions_usage([a for a in actions if not a.option_strings],
                                                                  groups))
        whole = " ".join([prefix + self._prog, *optionals, *positionals])
        if text_width(whole) <= width:
            return whole + "\n\n"
        if text_width(prefix + self._prog) <= 0.75 * width:  # the parts follow the program's name
            indent = " " * (text_width(prefix + self._prog) + 1)
            lines = self._fill(optionals, prefix + self._prog, indent, width)
            lines += self._fill(positionals, indent, indent, width) if optionals else []
            if not optionals:
                lines = self._fill(positionals, prefix + self._prog, indent, width)
        else:  # a long name: on its own line, the parts below it
            indent = " " * text_width(prefix)
            lines = [prefix + self._prog, *self._fill(optionals, indent, indent, width),
                     *self._fill(positionals, indent, indent, width)]
        return "\n".join(line for line in lines if line.strip()) + "\n\n"

    @staticmethod
    def _fill(parts: list[str], start: str, indent: str, width: int) -> list[str]:
        lines, line = [], start
        for item in parts:
            if line.strip() and text_width(line) + 1 + text_width(item) > width:
                lines.append(line)
                line = indent
            line = line + item if line.isspace() or not line else f"{line} {item}"
        return [*lines, line]

    def add_argument(self, action: argparse.Action) -> None:
        if action.help is not argparse.SUPPRESS:
            invocations = [self._format_action_invocation(action)]
            invocations += [self._format_action_invocation(a) for a in self._iter_indented_subactions(action)]
            self._action_max_length = max(self._action_max_length,
                                          max(map(text_width, invocations)) + self._current_indent)
            self._add_item(self._format_action, [action])

    def _format_action(self, action: argparse.Action) -> str:
        help_position = min(self._action_max_length + 2, self._max_help_position)
        help_width = max(self._width - help_position, 11)
        action_width = help_position - self._current_indent - 2
        header = self._format_action_invocation(action)
        indent = " " * self._current_indent
        if not action.help:
            parts = [f"{indent}{header}\n"]
        elif text_width(header) <= action_width:
            parts = [f"{indent}{pad(header, action_width)}  "]
            first = 0
        else:
            parts = [f"{indent}{header}\n"]
            first = help_position
        if action.help and action.help.strip():
            help_text = self._expand_help(action)
            if help_text:
                lines = self._split_lines(help_text, help_width)
                parts.append(" " * first + lines[0] + "\n")
                parts += [" " * help_position + line + "\n" for line in lines[1:]]
        elif not parts[0].endswith("\n"):
            parts.append("\n")
        parts += [self._format_action(a) for a in self._iter_indented_subactions(action)]
        return self._join_parts(parts)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(self._whitespace_matcher.sub(" ", text).strip(), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        """Descriptions keep their line breaks; each line is wrapped, but one indented by two spaces
        or more (a table, an example) is kept as it is."""
        lines = []
        for paragraph in text.strip("\n").split("\n"):
            if paragraph.startswith("  "):
                lines.append(indent + paragraph.rstrip())
                continue
            lines += [indent + line for line in wrap(self._whitespace_matcher.sub(" ", paragraph).strip(),
                                                     width - len(indent))]
        return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` speaking Chinese (see the module's docstring).  Sub-command parsers
    made by ``add_subparsers().add_parser`` are of this class too."""

    def __init__(self, *args: Any, parents: list[argparse.ArgumentParser] | tuple = (), add_help: bool = True,
                 formatter_class: type[argparse.HelpFormatter] = Formatter, **kwargs: Any) -> None:
        super().__init__(*args, add_help=False, formatter_class=formatter_class, **kwargs)
        self._positionals.title = POSITIONALS
        self._optionals.title = OPTIONALS
        self.add_help = add_help
        if add_help:  # our own -h, first as argparse puts its own
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help=HELP)
        for parent in parents:  # as argparse adds them, after -h
            self._add_container_actions(parent)
            self._defaults.update(getattr(parent, "_defaults", {}))

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's, but unknown arguments are reported by the sub-command they were given to."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            self.chosen(namespace).error(UNRECOGNIZED % " ".join(extras))
        return namespace

    def chosen(self, namespace: argparse.Namespace) -> Parser:
        """The innermost sub-command parser ``namespace`` was parsed by (this one if none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(namespace, action.dest, None) or "")
                if isinstance(sub, Parser):
                    return sub.chosen(namespace)
        return self

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, ERROR.format(message=translate(message, self)) + "\n" + HINT.format(prog=self.prog) + "\n")
