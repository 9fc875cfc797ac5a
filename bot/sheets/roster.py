"""The worker roster as offices keep it: CSV or xlsx (columns: 姓名, 微信号或昵称, 电话, 技能, 团队, 承诺书日期, 状态).

One reader for the command line and the dashboard.  ``read_roster`` takes the file's bytes and
tells the format by content (an xlsx file is a zip: ``PK\\x03\\x04``), whatever the file is called:

- CSV as Excel and WPS save it: UTF-8 with or without a BOM, or GBK/GB18030 (Excel's "CSV" on a
  Chinese Windows), tried strictly in that order; Excel's "Unicode text" (UTF-16, tab-separated).
- xlsx: the first sheet.
- Either way the header row is found by its column names (a title row or blank rows above it,
  spaces in and around names, columns in any order, extra columns ignored); numbers stored as
  numbers (a phone 13908521234 as int or float) come back as their digits; dates may be
  2026-03-01, 2026/3/1, 2026.3.1, 2026年3月1日, Excel date cells or Excel day numbers (46082).

Every row is checked first; problems are listed in Chinese, naming the file's line (the sheet's
row for xlsx) and the column, and only a clean file is written, in one transaction, so nothing is
half-imported.  The words live in templates/labels.toml ``[roster]``.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from bot.config import WorkerSeed, looks_like_id
from bot.render import load_labels
from bot.sheets.cells import append_row, csv_row, from_csv
from storage.repository import Repository

_LABELS = load_labels()["roster"]  # read-only: column and status names live in templates/labels.toml
COLUMNS = tuple(_LABELS["columns"])
NAME, WECHAT, PHONE, SKILLS, TEAM, PLEDGE, STATUS = COLUMNS
STATUS_OUT: dict[str, str] = dict(_LABELS["status_names"])
STATUS_IN: dict[str, str] = {**{name: key for key, name in STATUS_OUT.items()}, **_LABELS["status_aliases"]}
HEADER_ALIASES: dict[str, str] = dict(_LABELS["header_aliases"])
EXAMPLE_MARKER: str = _LABELS["example_marker"]
ERRORS: dict[str, str] = _LABELS["errors"]
MESSAGES: dict[str, str] = _LABELS["messages"]
TEMPLATE: dict[str, Any] = _LABELS["template"]
SKILL_JOIN = "\u3001"  # the enumeration comma
_SKILL_SPLIT = re.compile(r"[、,，;；/\s]+")

XLSX_MAGIC = b"PK\x03\x04"  # a zip file: xlsx (and docx, odt, ...)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, or an xlsx saved with a password
HEADER_SEARCH = 20  # the header must be among the first rows
MAX_ROWS = 50_000  # data rows in one file (a city's roster is a few thousand)
EXCEL_EPOCH = date(1899, 12, 30)  # day 0 for Excel serials after February 1900 (Excel counts a 29 Feb 1900)
SERIAL_RANGE = ((date(1990, 1, 1) - EXCEL_EPOCH).days, (date(2100, 12, 31) - EXCEL_EPOCH).days)
_DATE_SEP = re.compile(r"(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_DATE_CN = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE]\+?\d+")

Cell = Any  # str from a CSV; str, int, float, bool, datetime, date, time or None from xlsx
Table = list[tuple[int, list[Cell]]]  # (line or row number, cells)


class RosterError(Exception):
    """The file is not importable; ``problems`` lists one line per problem, in Chinese."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# reading a file into rows of cells


def read_table(data: bytes) -> Table:
    """The rows of a CSV or xlsx file, told apart by content."""
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise RosterError([ERRORS["empty_file"]])
    if data.startswith(XLSX_MAGIC):
        return _xlsx_table(data)
    if data.startswith(OLE_MAGIC):
        raise RosterError([ERRORS["xls"]])
    return _csv_table(decode_text(data))


def decode_text(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (BOM or not), else GB18030 (a superset of GBK), both strict."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise RosterError([ERRORS["not_text"]]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise RosterError([ERRORS["encoding"].format(line=line)]) from None
    if "\x00" in text:  # UTF-8 and GB18030 both decode NUL bytes; no office writes them in a CSV
        raise RosterError([ERRORS["not_text"]])
    return text


def _csv_table(text: str) -> Table:
    lines = [line for line in text.splitlines()[:HEADER_SEARCH * 5] if line.strip()]
    first = next((line for line in lines if NAME in line), lines[0] if lines else "")
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: Table = []
    while True:
        line = reader.line_num + 1  # a quoted cell may span lines; a row is named by its first
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error:
            raise RosterError([ERRORS["line"].format(line=line, problem=ERRORS["bad_csv"])]) from None
        cells = [from_csv(c.strip()) for c in cells]
        if not all(_blank(c) for c in cells):
            rows.append((line, cells))


def _xlsx_table(data: bytes) -> Table:
    with warnings.catch_warnings():  # openpyxl warns about what WPS writes (no default style, extensions)
        warnings.simplefilter("ignore")
        return _read_xlsx(data)


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:  # a parser of untrusted bytes: whatever it raises, the file is not a workbook we can read
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise RosterError([ERRORS["bad_xlsx"]]) from None
    try:
        if not book.worksheets:
            raise RosterError([ERRORS["bad_xlsx"]])
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers record a wrong sheet size; read what is there
        rows: Table = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), 1):  # gaps come as empty rows
            cells = [v.strip() if isinstance(v, str) else v for v in values]
            if not all(_blank(c) for c in cells):
                rows.append((number, cells))
            if len(rows) > MAX_ROWS + HEADER_SEARCH:
                break
        return rows
    except RosterError:
        raise
    except Exception:
        raise RosterError([ERRORS["bad_xlsx"]]) from None
    finally:
        book.close()


def _blank(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# cells as values


def cell_text(cell: Cell) -> str:
    """A cell as text: numbers without a spurious ``.0`` (13908521234.0 -> '13908521234')."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time() else cell.isoformat(" ", "minutes")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, time):
        return cell.isoformat("minutes")
    return str(cell).strip()


def parse_date(cell: Cell) -> date:
    """A date as offices write it; ValueError when it is none."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return _serial(cell)
    text = cell_text(cell)
    if _SERIAL.fullmatch(text):  # an Excel day number, as a CSV holds a date cell formatted as a number
        return _serial(float(text))
    if m := _DATE_SEP.fullmatch(text):
        return date(int(m[1]), int(m[3]), int(m[4]))
    if m := _DATE_CN.fullmatch(text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    raise ValueError(text)


def _serial(number: float) -> date:
    days = int(number)
    if not SERIAL_RANGE[0] <= days <= SERIAL_RANGE[1]:
        raise ValueError(number)
    return EXCEL_EPOCH + timedelta(days=days)


def _norm_header(cell: Cell) -> str:
    name = re.sub(r"\s+", "", cell_text(cell))
    return HEADER_ALIASES.get(name, name)


# rows as workers


def read_roster(data: bytes, categories: Iterable[str]) -> list[WorkerSeed]:
    """The workers in a roster file's bytes (CSV or xlsx); RosterError lists every problem."""
    return parse_table(read_table(data), categories)


def parse_roster(text: str, categories: Iterable[str]) -> list[WorkerSeed]:
    """The workers in a roster CSV already decoded to text."""
    return parse_table(_csv_table(text.lstrip("\ufeff")), categories)


def parse_table(table: Table, categories: Iterable[str]) -> list[WorkerSeed]:
    known = list(categories)
    header_at, index = _find_header(table)
    data = table[header_at + 1:]
    if len(data) > MAX_ROWS:
        raise RosterError([ERRORS["too_many_rows"].format(limit=MAX_ROWS)])
    rows: list[WorkerSeed] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, cells in data:
        raw = {column: cells[i] if i < len(cells) else None for column, i in index.items()}
        text = {column: cell_text(value) for column, value in raw.items()}
        if text[NAME].startswith(EXAMPLE_MARKER):
            continue
        bad = _RowProblems(line, problems)
        name = text[NAME]
        if not name:
            bad(NAME, ERRORS["no_name"])
        elif name in first_line:
            bad(NAME, ERRORS["duplicate"].format(name=_shown(name), first=first_line[name]))
        else:
            first_line[name] = line
        phone = _phone(text[PHONE], bad)
        skills = tuple(s for s in _SKILL_SPLIT.split(text[SKILLS]) if s)
        unknown = [s for s in skills if s not in known]
        if unknown:
            bad(SKILLS, ERRORS["skills"].format(value=_shown(SKILL_JOIN.join(unknown)),
                                                choices=SKILL_JOIN.join(known)))
        pledge = None
        if not _blank(raw[PLEDGE]):
            try:
                pledge = parse_date(raw[PLEDGE]).isoformat()
            except ValueError:
                bad(PLEDGE, ERRORS["date"].format(value=_shown(text[PLEDGE])))
        status = STATUS_IN.get(text[STATUS])
        if status is None:
            bad(STATUS, ERRORS["status"].format(value=_shown(text[STATUS]),
                                                choices=SKILL_JOIN.join(STATUS_OUT.values())))
        if not bad.found:
            assert status is not None
            rows.append(WorkerSeed(name, text[WECHAT] or name, phone, skills, text[TEAM] or None, pledge, status))
    if problems:
        raise RosterError(problems)
    if not rows:
        raise RosterError([ERRORS["no_rows"]])
    return rows


def _shown(value: str, limit: int = 40) -> str:
    """A cell's text as a problem quotes it: one line, not a page (an unclosed quote swallows lines)."""
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


class _RowProblems:
    """Collects one row's problems, each naming the line and the column."""

    def __init__(self, line: int, problems: list[str]) -> None:
        self.line, self.problems, self.found = line, problems, False

    def __call__(self, column: str, problem: str) -> None:
        self.found = True
        self.problems.append(ERRORS["cell"].format(line=self.line, column=column, problem=problem))


def _phone(text: str, bad: _RowProblems) -> str:
    phone = re.sub(r"[\s\-－]", "", text)
    phone = re.sub(r"^(1\d{10})\.0+$", r"\1", phone)  # a number cell written out as 13908521234.0
    if _MOBILE.fullmatch(phone):
        return phone
    if not phone:
        bad(PHONE, ERRORS["phone_empty"])
    elif _SCIENTIFIC.fullmatch(phone):
        bad(PHONE, ERRORS["phone_scientific"].format(value=_shown(text)))
    else:
        bad(PHONE, ERRORS["phone"].format(value=_shown(text)))
    return phone


def _find_header(table: Table) -> tuple[int, dict[str, int]]:
    """The header row's position in ``table`` and each column's index in it."""
    for at, (line, cells) in enumerate(table[:HEADER_SEARCH]):
        names = [_norm_header(c) for c in cells]
        if NAME not in names:
            continue
        index: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in COLUMNS:
                if name in index:
                    raise RosterError([ERRORS["column_twice"].format(line=line, column=name)])
                index[name] = i
        missing = [c for c in COLUMNS if c not in index]
        if missing:
            raise RosterError([ERRORS["missing_columns"].format(line=line, columns="，".join(missing))])
        return at, index
    raise RosterError([ERRORS["no_header"].format(columns="，".join(COLUMNS))])


# writing the roster


async def import_roster(repo: Repository, community: str, rows: list[WorkerSeed], now: float) -> dict[str, int]:
    counts = {"added": 0, "updated": 0}
    async with repo.transaction() as tx:
        for row in rows:
            values: dict[str, Any] = {"wechat": row.wechat, "phone": row.phone, "skills": row.skills,
                                      "team": row.team, "pledge_date": row.pledge_date, "status": row.status}
            existing = await tx.find_worker(community, name=row.name)
            # an id in the 微信号 column is that account; a nickname waits for the worker's code
            # (linggong workers codes), and a bound worker's contact id is never overwritten by a file
            proven = looks_like_id(row.wechat)
            if existing is None:
                await tx.add_worker(dict(values, community=community, name=row.name, registered_at=now,
                                         bound_at=now if proven else None))
                counts["added"] += 1
            else:
                if existing.bound:
                    values["wechat"] = existing.wechat
                elif proven:
                    values["bound_at"] = now
                await tx.update_worker(existing.id, values)
                counts["updated"] += 1
        await tx.add_event(None, community, now, "cli", "roster_import", f"{counts}")
    return counts


async def roster_rows(repo: Repository, community: str | None) -> list[list[str]]:
    async with repo.transaction() as tx:
        workers = await tx.list_workers(community)
    return [[w.name, w.wechat, w.phone, SKILL_JOIN.join(w.skills), w.team or "", w.pledge_date or "",
             STATUS_OUT[w.status]] for w in workers]


async def export_roster(repo: Repository, community: str | None) -> str:
    """The roster as CSV text (write it with a BOM, ``utf-8-sig``, for Excel)."""
    return roster_csv(await roster_rows(repo, community))


async def export_roster_xlsx(repo: Repository, community: str | None) -> bytes:
    return roster_xlsx(await roster_rows(repo, community))


def roster_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(csv_row(row) for row in rows)
    return out.getvalue()


def roster_xlsx(rows: list[list[str]], help_rows: list[list[str]] | None = None) -> bytes:
    """A workbook with the roster on its first sheet (phone and WeChat columns formatted as text,
    状态 a drop-down) and, given ``help_rows``, a second sheet explaining the columns."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = TEMPLATE["sheet"]
    sheet.append(list(COLUMNS))
    for row in rows:
        append_row(sheet, row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
    sheet.freeze_panes = "A2"
    last = max(500, len(rows) + 200)  # rows a person may fill in by hand
    for column in (WECHAT, PHONE):
        letter = sheet.cell(1, COLUMNS.index(column) + 1).column_letter
        for r in range(2, last + 1):
            sheet[f"{letter}{r}"].number_format = "@"  # typed digits stay text, not 1.39E+10
    statuses = DataValidation(type="list", formula1='"' + ",".join(STATUS_OUT.values()) + '"', allow_blank=True)
    sheet.add_data_validation(statuses)
    status_letter = sheet.cell(1, COLUMNS.index(STATUS) + 1).column_letter
    statuses.add(f"{status_letter}2:{status_letter}{last}")
    _widths(sheet, {PHONE: 14, SKILLS: 24, WECHAT: 18, PLEDGE: 13})
    if help_rows is not None:
        notes = book.create_sheet(TEMPLATE["help_sheet"])
        notes.append(TEMPLATE["help_header"])
        for cell in notes[1]:
            cell.font = Font(bold=True)
        for row in help_rows:
            append_row(notes, row)
        for cells in notes.iter_rows(min_row=2):
            for cell in cells:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for letter, width in zip("ABC", (14, 70, 24)):
            notes.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _widths(sheet: Any, wide: dict[str, int]) -> None:
    for i, column in enumerate(COLUMNS, 1):
        sheet.column_dimensions[sheet.cell(1, i).column_letter].width = wide.get(column, 11)


def template_example(categories: Iterable[str]) -> list[str]:
    row = list(TEMPLATE["example"])
    row[COLUMNS.index(SKILLS)] = SKILL_JOIN.join(list(categories)[:2])
    return row


def roster_template(categories: Iterable[str], fmt: str = "xlsx") -> bytes:
    """The fill-in template: the header and one example row (never imported), as xlsx with a
    second sheet 说明 explaining each column, or as a CSV with a BOM that Excel opens as UTF-8."""
    known = list(categories)
    example = template_example(known)
    if fmt == "csv":
        return roster_csv([example]).encode("utf-8-sig")
    words = {"categories": SKILL_JOIN.join(known), "statuses": SKILL_JOIN.join(STATUS_OUT.values()),
             "default": STATUS_OUT[STATUS_IN[""]]}
    help_rows = [[column, TEMPLATE["help"][column].format(**words), example[i]] for i, column in enumerate(COLUMNS)]
    help_rows += [[], *[["", note, ""] for note in TEMPLATE["notes"]]]
    return roster_xlsx([example], help_rows)


def template_filename(fmt: str = "xlsx") -> str:
    return f"{TEMPLATE['filename']}.{fmt}"
