"""The roster as offices have it: CSV in UTF-8 or GBK, xlsx, dates as Excel writes them, problems
named in Chinese by line and column, nothing half-imported, a fill-in template, the CLI."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from bot.sheets.roster import (
    COLUMNS,
    RosterError,
    export_roster,
    export_roster_xlsx,
    import_roster,
    parse_roster,
    read_roster,
    roster_template,
)
from tests.conftest import ROOT, Chat

HEADER = ",".join(COLUMNS) + "\n"
CATS = ["家电水电维修", "搬家配送", "家政护工保洁"]
COMMUNITY = "洗马社区"
CLI = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]
# words that may stay in Latin letters in a Chinese message
LATIN_OK = re.compile(r"linggong workers codes|Excel|WPS|UTF-8|UTF|GBK|CSV|xlsx|xls|wxid_")


def chinese(problem: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", problem)) and not re.search(r"[A-Za-z]{3,}", LATIN_OK.sub("", problem))


def csv_bytes(rows: list[list[str]], encoding: str, newline: str = "\r\n", delimiter: str = ",") -> bytes:
    """Rows written as Excel/WPS save a CSV: csv quoting, CRLF, in the given encoding."""
    out = io.StringIO()
    csv.writer(out, lineterminator=newline, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], *, title: str | None = None, formats: dict[str, str] | None = None) -> bytes:
    """A workbook as an office makes one: an optional merged title row above the header."""
    book = Workbook()
    sheet = book.active
    sheet.title = "名册"
    if title is not None:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    for row in rows:
        sheet.append(row)
    for ref, fmt in (formats or {}).items():
        sheet[ref].number_format = fmt
    book.create_sheet("别的表").append(["姓名"])  # only the first sheet is read
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def names(chat: Chat) -> set[str]:
    async with chat.app.repo.transaction() as tx:
        return {w.name for w in await tx.list_workers(COMMUNITY)}


# encodings, as Excel and WPS save a CSV

GOOD_ROWS = [list(COLUMNS),
             ["欧阳华", "wxid_ouyanghua", "13908521234", "家电水电维修、搬家配送", "水电一队", "2026/3/1", "已登记"],
             ["胡德才", "胡师傅", "13985206780", "家政护工保洁", "", "", "待审核"]]


@pytest.mark.parametrize("encoding, newline, delimiter", [
    pytest.param("gbk", "\r\n", ",", id="gbk-crlf-excel-on-chinese-windows"),
    pytest.param("gb18030", "\r\n", ",", id="gb18030-crlf-wps"),
    pytest.param("utf-8-sig", "\r\n", ",", id="utf8-bom-crlf-excel-csv-utf8"),
    pytest.param("utf-8", "\r\n", ",", id="utf8-no-bom-crlf"),
    pytest.param("utf-8", "\n", ",", id="utf8-no-bom-lf"),
    pytest.param("utf-16", "\r\n", "\t", id="utf16-tab-excel-unicode-text"),
])
def test_csv_in_every_encoding_offices_write(encoding: str, newline: str, delimiter: str) -> None:
    rows = read_roster(csv_bytes(GOOD_ROWS, encoding, newline, delimiter), CATS)
    assert [(r.name, r.wechat, r.phone, r.skills, r.team, r.pledge_date, r.status) for r in rows] == [
        ("欧阳华", "wxid_ouyanghua", "13908521234", ("家电水电维修", "搬家配送"), "水电一队", "2026-03-01", "active"),
        ("胡德才", "胡师傅", "13985206780", ("家政护工保洁",), None, None, "pending"),
    ]


def test_gb18030_names_beyond_gbk() -> None:
    name = "龚䶮"  # 䶮 (U+4DAE) is in GB18030 but not in GBK
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")
    rows = read_roster(csv_bytes([list(COLUMNS), [name, "wxid_gongyan", "13908521234", "", "", "", ""]], "gb18030"),
                       CATS)
    assert rows[0].name == name


def test_a_title_row_blank_rows_spaces_and_other_columns_in_a_csv() -> None:
    data = ("洗马社区零工名册,,,,,,,\r\n,,,,,,,\r\n\r\n"
            "序号, 姓 名 ,手机号,技能,团队,承诺书日期,状态,微信号 \r\n"
            "1, 欧阳华 ,139 0852 1234,搬家配送 ,,2026.3.1, 已登记 ,wxid_ouyanghua\r\n").encode("gbk")
    (row,) = read_roster(data, CATS)
    assert (row.name, row.wechat, row.phone, row.skills, row.pledge_date, row.status) == (
        "欧阳华", "wxid_ouyanghua", "13908521234", ("搬家配送",), "2026-03-01", "active")


def test_parse_roster_takes_decoded_text() -> None:
    rows = parse_roster("\ufeff" + HEADER + "熊明祥,xmx_nick,13985201234,家电水电维修、搬家配送,水电一队,2026-03-01,已登记\n"
                        "邱桂兰,,13985206789,家政护工保洁,,,待审核\n", CATS)
    assert rows[0].skills == ("家电水电维修", "搬家配送") and rows[0].status == "active"
    assert rows[1].wechat == "邱桂兰" and rows[1].status == "pending" and rows[1].team is None


# dates as people type them and as Excel writes them back

@pytest.mark.parametrize("written", [
    pytest.param("2026-03-01", id="iso"),
    pytest.param("2026-3-1", id="iso-short"),
    pytest.param("2026/3/1", id="excel-slashes"),
    pytest.param("2026/03/01", id="slashes-padded"),
    pytest.param("2026.3.1", id="dots"),
    pytest.param("2026年3月1日", id="chinese"),
    pytest.param("2026年3月1号", id="chinese-hao"),
    pytest.param("2026/3/1 0:00", id="excel-date-with-time"),
    pytest.param("46082", id="excel-serial-in-csv"),
    pytest.param(" 2026/3/1 ", id="spaces"),
])
def test_every_date_form_in_a_csv(written: str) -> None:
    rows = [list(COLUMNS), ["欧阳华", "wxid_ouyanghua", "13908521234", "", "", written, ""]]
    assert read_roster(csv_bytes(rows, "gbk"), CATS)[0].pledge_date == "2026-03-01"


@pytest.mark.parametrize("cell, fmt", [
    pytest.param(datetime(2026, 3, 1), "yyyy/m/d", id="date-cell-datetime"),
    pytest.param(date(2026, 3, 1), "yyyy\"年\"m\"月\"d\"日\"", id="date-cell-chinese-format"),
    pytest.param(46082, "General", id="serial-in-a-general-cell"),
    pytest.param(46082.0, "General", id="serial-as-float"),
    pytest.param("2026/3/1", "@", id="text-cell"),
    pytest.param("2026年3月1日", "@", id="chinese-text-cell"),
])
def test_every_date_form_in_an_xlsx(cell: object, fmt: str) -> None:
    data = xlsx_bytes([list(COLUMNS), ["欧阳华", "wxid_ouyanghua", "13908521234", "", "", cell, ""]],
                      formats={"F2": fmt})
    assert read_roster(data, CATS)[0].pledge_date == "2026-03-01"


# xlsx as offices make it

def test_xlsx_with_a_title_row_a_date_cell_and_numeric_phones() -> None:
    data = xlsx_bytes([
        [],
        ["序号", "姓名 ", " 微信号或昵称", "电话", "技能", "团队", "承诺书日期", "状态", "备注"],
        [1, "欧阳华", "wxid_ouyanghua", 13908521234, "家电水电维修、搬家配送", "水电一队 ", datetime(2026, 3, 1), "已登记"],
        [],
        [2, "胡德才", "胡师傅", 13985206780.0, "家政护工保洁", None, 46082, "待审核", "新来的"],
        [3, "蒋秀兰", None, "13985201111", "搬家配送,家电水电维修", "", "2026年3月1日", None],
    ], title="洗马社区零工名册（2026年3月）", formats={"G3": "yyyy/m/d"})
    rows = read_roster(data, CATS)
    assert [(r.name, r.wechat, r.phone, r.skills, r.team, r.pledge_date, r.status) for r in rows] == [
        ("欧阳华", "wxid_ouyanghua", "13908521234", ("家电水电维修", "搬家配送"), "水电一队", "2026-03-01", "active"),
        ("胡德才", "胡师傅", "13985206780", ("家政护工保洁",), None, "2026-03-01", "pending"),
        ("蒋秀兰", "蒋秀兰", "13985201111", ("搬家配送", "家电水电维修"), None, "2026-03-01", "active"),
    ]


def test_xlsx_problems_name_the_sheet_row() -> None:
    data = xlsx_bytes([
        list(COLUMNS),
        ["欧阳华", "wxid_ouyanghua", 13908521234, "", "", datetime(2026, 3, 1), ""],
        [],
        ["胡德才", "胡师傅", 139, "修飞机", "", "2026/13/1", ""],
    ], title="名册")
    with pytest.raises(RosterError) as err:
        read_roster(data, CATS)
    assert err.value.problems == [
        "第 5 行，“电话”列：139 不是 11 位手机号",
        "第 5 行，“技能”列：修飞机 不在配置的类别里（可选：家电水电维修、搬家配送、家政护工保洁）",
        "第 5 行，“承诺书日期”列：2026/13/1 不是日期，请写成 2026-03-01 或 2026/3/1",
    ]


@pytest.mark.parametrize("data", [
    pytest.param(lambda: xlsx_bytes(GOOD_ROWS), id="xlsx"),
    pytest.param(lambda: csv_bytes(GOOD_ROWS, "gbk"), id="csv-gbk"),
])
def test_the_format_is_told_by_content(data) -> None:
    assert [r.name for r in read_roster(data(), CATS)] == ["欧阳华", "胡德才"]  # read_roster is never told a name


# every problem: line and column named, in Chinese, nothing imported

GOOD = "欧阳华,wxid_ouyanghua,13908521234,搬家配送,,,\n"


@pytest.mark.parametrize("body, problem", [
    pytest.param("胡德才,hu_nick,123,家电水电维修,,,\n", "第 3 行，“电话”列：123 不是 11 位手机号", id="bad-phone"),
    pytest.param("胡德才,hu_nick,,家电水电维修,,,\n", "第 3 行，“电话”列：是空的，请填 11 位手机号", id="no-phone"),
    pytest.param("胡德才,hu_nick,1.39085E+10,,,,\n",
                 "第 3 行，“电话”列：1.39085E+10 是 Excel 的科学计数法，号码已经不全了：请把这一列设成“文本”，重新输入号码后再保存",
                 id="phone-in-scientific-notation"),
    pytest.param("胡德才,hu_nick,13985201234,修飞机,,,\n",
                 "第 3 行，“技能”列：修飞机 不在配置的类别里（可选：家电水电维修、搬家配送、家政护工保洁）", id="unknown-skill"),
    pytest.param("胡德才,hu_nick,13985201234,修飞机、开坦克,,,\n",
                 "第 3 行，“技能”列：修飞机、开坦克 不在配置的类别里（可选：家电水电维修、搬家配送、家政护工保洁）",
                 id="two-unknown-skills"),
    pytest.param("胡德才,hu_nick,13985201234,,,2026/13/1,\n",
                 "第 3 行，“承诺书日期”列：2026/13/1 不是日期，请写成 2026-03-01 或 2026/3/1", id="month-13"),
    pytest.param("胡德才,hu_nick,13985201234,,,2026-02-30,\n",
                 "第 3 行，“承诺书日期”列：2026-02-30 不是日期，请写成 2026-03-01 或 2026/3/1", id="february-30"),
    pytest.param("胡德才,hu_nick,13985201234,,,三月一日,\n",
                 "第 3 行，“承诺书日期”列：三月一日 不是日期，请写成 2026-03-01 或 2026/3/1", id="date-in-words"),
    pytest.param("胡德才,hu_nick,13985201234,,,2026/3,\n",
                 "第 3 行，“承诺书日期”列：2026/3 不是日期，请写成 2026-03-01 或 2026/3/1", id="date-without-day"),
    pytest.param("胡德才,hu_nick,13985201234,,,99999,\n",
                 "第 3 行，“承诺书日期”列：99999 不是日期，请写成 2026-03-01 或 2026/3/1", id="serial-out-of-range"),
    pytest.param("胡德才,hu_nick,13985201234,,,,退休\n",
                 "第 3 行，“状态”列：退休 不是可选的状态（可选：已登记、待审核、停用）", id="bad-status"),
    pytest.param("欧阳华,other_nick,13985201235,,,,\n", "第 3 行，“姓名”列：欧阳华 和第 2 行重名，同一个人只写一行",
                 id="duplicate"),
    pytest.param(",hu_nick,13985201234,,,,\n", "第 3 行，“姓名”列：是空的，每一行都要写姓名", id="no-name"),
    pytest.param("\n\n胡德才,hu_nick,123,,,,\n", "第 5 行，“电话”列：123 不是 11 位手机号", id="line-counts-blank-lines"),
    pytest.param('"胡\n德才",hu_nick,123,,,,\n', "第 3 行，“电话”列：123 不是 11 位手机号", id="multi-line-cell"),
])
async def test_every_problem_is_named_and_nothing_is_imported(chat: Chat, body: str, problem: str) -> None:
    before = await names(chat)
    for encoding in ("gbk", "utf-8-sig"):
        with pytest.raises(RosterError) as err:
            rows = read_roster((HEADER + GOOD + body).replace("\n", "\r\n").encode(encoding), CATS)
            await import_roster(chat.app.repo, COMMUNITY, rows, 0.0)
        assert err.value.problems == [problem]
        assert chinese(problem), problem
    assert await names(chat) == before and "欧阳华" not in before


def test_all_problems_of_a_file_are_listed_at_once() -> None:
    body = "胡德才,hu_nick,123,修飞机,,2026/13/1,退休\n蒋秀兰,,13985201111,,,,\n,x_nick,1,,,,\n"
    with pytest.raises(RosterError) as err:
        read_roster((HEADER + body).encode("gbk"), CATS)
    assert [p.split("，")[0] for p in err.value.problems] == ["第 2 行"] * 4 + ["第 4 行"] * 2
    assert all(chinese(p) for p in err.value.problems)


def _broken_xlsx() -> bytes:
    data = bytearray(xlsx_bytes(GOOD_ROWS))
    return b"PK\x03\x04" + bytes(data[4:200]) + b"\x00" * 50  # a truncated download


@pytest.mark.parametrize("data, problem", [
    pytest.param(b"", "文件是空的", id="empty"),
    pytest.param(b"\r\n  \r\n", "文件是空的", id="only-blank-lines"),
    pytest.param(b"\xef\xbb\xbf\r\n", "文件是空的", id="only-a-bom"),
    pytest.param(HEADER.encode("gbk") + b"\xa1\xff\xfe\x80,\r\n",
                 "第 2 行有既不是 UTF-8 也不是 GBK 的字符，读不出来：请在 Excel/WPS 里“另存为”CSV（UTF-8）或 Excel 工作簿（.xlsx）后再导入",
                 id="undecodable-bytes"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500,
                 "这是旧版 Excel（.xls）或加了密码的 Excel 文件，读不出来：请在 Excel/WPS 里另存为 Excel 工作簿（.xlsx）或 CSV 后再导入",
                 id="old-xls"),
    pytest.param(_broken_xlsx(), "打不开这个 Excel 文件（.xlsx），文件可能已损坏：请在 Excel/WPS 里重新保存后再导入",
                 id="broken-xlsx"),
    pytest.param(b"PNG\x00\x00\x00binary", "不是 CSV 文本文件，也不是 Excel 工作簿（.xlsx）：请在 Excel/WPS 里另存为其中一种后再导入",
                 id="binary-file"),
    pytest.param(b"name,phone\r\nxiong,139\r\n",
                 "没有找到表头：要有一行写着 姓名，微信号或昵称，电话，技能，团队，承诺书日期，状态（可以先下载填写模板照着填）",
                 id="no-header"),
    pytest.param("零工名册\r\n姓名,电话,技能\r\n欧阳华,13908521234,\r\n".encode("gbk"),
                 "第 2 行是表头，但缺少这几列：微信号或昵称，团队，承诺书日期，状态", id="missing-columns"),
    pytest.param((HEADER.strip() + ",手机号\n").encode("gbk"), "第 1 行是表头，但有两列都是“电话”", id="column-twice"),
    pytest.param(HEADER.encode("gbk"), "表头下面没有要导入的零工（以“示例”开头的行不导入）", id="header-only"),
    pytest.param(HEADER.encode() + '"欧阳华,wxid\r\n'.encode() + b"x" * 140_000,
                 "第 2 行：读不出来：一个格子里的内容太长，或者引号不配对", id="runaway-quote"),
])
async def test_a_file_that_cannot_be_read_is_named_and_nothing_is_imported(chat: Chat, data: bytes,
                                                                            problem: str) -> None:
    before = await names(chat)
    with pytest.raises(RosterError) as err:
        await import_roster(chat.app.repo, COMMUNITY, read_roster(data, CATS), 0.0)
    assert err.value.problems == [problem] and chinese(problem)
    assert await names(chat) == before


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.sheets import roster

    monkeypatch.setattr(roster, "MAX_ROWS", 2)
    rows = [list(COLUMNS)] + [[f"师傅{i}", f"nick{i}", f"1398520000{i}", "", "", "", ""] for i in range(3)]
    with pytest.raises(RosterError) as err:
        read_roster(csv_bytes(rows, "gbk"), CATS)
    assert err.value.problems == ["超过 2 行了，请分成几个文件导入"]


def test_a_runaway_cell_is_quoted_short() -> None:
    body = '胡德才,hu_nick,13985201234,,,"2026/3/1,\r\n' + "蒋秀兰,jiang_nick,13985201111,,,,\r\n" * 20
    with pytest.raises(RosterError) as err:  # the unclosed quote swallows the rest of the file
        read_roster((HEADER + body).encode("gbk"), CATS)
    (problem,) = err.value.problems
    assert problem.startswith("第 2 行，“承诺书日期”列：2026/3/1,") and "…" in problem and len(problem) < 100


# import, export, template

async def test_import_then_export_round_trip(chat: Chat) -> None:
    rows = read_roster(("\ufeff" + HEADER + "新师傅,wx_new,13985209999,搬家配送,搬家二队,2026/5/1,已登记\n"
                        "熊明祥,熊师傅昵称,13985201234,家电水电维修,水电一队,2026-03-01,停用\n").encode("utf-8"), CATS)
    counts = await import_roster(chat.app.repo, COMMUNITY, rows, 0.0)
    assert counts == {"added": 1, "updated": 1}
    text = await export_roster(chat.app.repo, COMMUNITY)
    assert "新师傅,wx_new,13985209999,搬家配送,搬家二队,2026-05-01,已登记" in text
    # a file never overwrites a bound worker's WeChat id with a nickname (issue 11)
    assert "熊明祥,wxid_xiongmingxiang,13985201234,家电水电维修,水电一队,2026-03-01,停用" in text
    book = load_workbook(io.BytesIO(await export_roster_xlsx(chat.app.repo, COMMUNITY)))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]] == list(COLUMNS)
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert ["新师傅", "wx_new", "13985209999", "搬家配送", "搬家二队", "2026-05-01", "已登记"] in values
    configured = [c.name for c in chat.app.config.categories]
    again = read_roster(await export_roster_xlsx(chat.app.repo, COMMUNITY), configured)
    assert {r.name for r in again} == await names(chat)


async def test_the_xlsx_export_stores_formulas_as_text(chat: Chat) -> None:
    rows = read_roster(csv_bytes([list(COLUMNS), ["'=HYPERLINK(\"x\")", "wxid_evilworker", "13800001111", "", "'@队",
                                                  "", ""]], "utf-8-sig"), CATS)
    assert (rows[0].name, rows[0].team) == ('=HYPERLINK("x")', "@队")
    await import_roster(chat.app.repo, COMMUNITY, rows, 0.0)
    data = await export_roster_xlsx(chat.app.repo, COMMUNITY)
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    configured = [c.name for c in chat.app.config.categories]
    (evil,) = [r for r in read_roster(data, configured) if r.wechat == "wxid_evilworker"]
    assert (evil.name, evil.team) == ('=HYPERLINK("x")', "@队")


def test_the_xlsx_template_has_the_header_an_example_and_a_help_sheet() -> None:
    book = load_workbook(io.BytesIO(roster_template(CATS)))
    assert book.sheetnames == ["零工名册", "说明"]
    sheet, notes = book.worksheets
    assert [c.value for c in sheet[1]] == list(COLUMNS)
    example = [c.value for c in sheet[2]]
    assert example[0].startswith("示例") and example[2] == "13800000000" and example[3] == "家电水电维修、搬家配送"
    assert sheet["C3"].number_format == "@"  # the phone column is text, so a typed number stays 11 digits
    explained = {row[0]: row[1] for row in notes.iter_rows(min_row=2, values_only=True) if row[0]}
    assert list(explained) == list(COLUMNS)
    assert "家电水电维修、搬家配送、家政护工保洁" in explained["技能"] and "2026/3/1" in explained["承诺书日期"]
    assert all(chinese(text) for text in explained.values())
    with pytest.raises(RosterError, match="表头下面没有要导入的零工"):  # the example row is never imported
        read_roster(roster_template(CATS), CATS)
    sheet.append(["欧阳华", "wxid_ouyanghua", "13908521234", "搬家配送", "", datetime(2026, 3, 1), "已登记"])
    out = io.BytesIO()
    book.save(out)
    assert [r.name for r in read_roster(out.getvalue(), CATS)] == ["欧阳华"]


def test_the_csv_template_opens_in_excel_as_utf8() -> None:
    data = roster_template(CATS, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[0] == ",".join(COLUMNS) and lines[1].startswith("示例")
    filled = data + "欧阳华,wxid_ouyanghua,13908521234,搬家配送,,2026/3/1,\r\n".encode()
    assert [r.name for r in read_roster(filled, CATS)] == ["欧阳华"]


# the command line: a Chinese error and a non-zero exit on a bad file, never a traceback

def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "workers", *args], capture_output=True, text=True, cwd=cwd)


def test_workers_cli_imports_a_gbk_csv_and_an_xlsx(tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    gbk = tmp_path / "名册.csv"
    gbk.write_bytes(csv_bytes(GOOD_ROWS, "gbk"))
    result = run_cli("import", str(gbk), "--db", db)
    assert result.returncode == 0, result.stderr
    assert "新增 2 名" in result.stdout
    book = tmp_path / "名册.dat"  # an xlsx by content, whatever its name
    book.write_bytes(xlsx_bytes([list(COLUMNS), ["蒋秀兰", "jiang_nick", 13985201111, "", "", datetime(2026, 3, 1),
                                                 ""]], title="洗马社区零工名册"))
    result = run_cli("import", str(book), "--db", db)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out.xlsx"
    assert run_cli("export", str(out), "--db", db).returncode == 0
    rows = {r.name: r for r in read_roster(out.read_bytes(), CATS)}
    assert rows["欧阳华"].pledge_date == "2026-03-01" and rows["蒋秀兰"].phone == "13985201111"
    csv_out = tmp_path / "out.csv"
    assert run_cli("export", str(csv_out), "--db", db).returncode == 0
    assert "蒋秀兰,jiang_nick,13985201111,,,2026-03-01,已登记" in csv_out.read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("data, shown", [
    pytest.param(csv_bytes([list(COLUMNS), ["甲", "jia_nick", "13985200001", "搬家配送", "", "", ""],
                            ["乙", "yi_nick", "999", "搬家配送", "", "2026/13/1", ""]], "gbk"),
                 ["第 3 行，“电话”列：999 不是 11 位手机号", "第 3 行，“承诺书日期”列：2026/13/1 不是日期"], id="bad-rows-gbk"),
    pytest.param(HEADER.encode("gbk") + b"\xa1\xff\xfe\x80\r\n", ["第 2 行有既不是 UTF-8 也不是 GBK 的字符"], id="undecodable"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ["旧版 Excel（.xls）"], id="xls"),
    pytest.param(b"PK\x03\x04broken", ["打不开这个 Excel 文件"], id="broken-xlsx"),
])
def test_workers_cli_rejects_a_bad_file_in_chinese_and_imports_nothing(tmp_path: Path, data: bytes,
                                                                      shown: list[str]) -> None:
    db = str(tmp_path / "w.db")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data)
    result = run_cli("import", str(bad), "--db", db)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and f"{bad}：没有导入任何一行" in result.stderr
    for text in shown:
        assert text in result.stderr
    out = tmp_path / "out.csv"
    assert run_cli("export", str(out), "--db", db).returncode == 0
    assert "甲" not in out.read_text(encoding="utf-8-sig")


def test_workers_cli_never_shows_a_traceback_for_a_file_it_cannot_open(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.csv", tmp_path):  # not there; a folder
        result = run_cli("import", str(path), "--db", str(tmp_path / "w.db"))
        assert result.returncode == 2 and "Traceback" not in result.stderr and str(path) in result.stderr


def test_workers_cli_writes_the_template(tmp_path: Path) -> None:
    result = run_cli("template", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    book = load_workbook(tmp_path / "零工名册模板.xlsx")
    assert book.sheetnames == ["零工名册", "说明"] and [c.value for c in book.worksheets[0][1]] == list(COLUMNS)
    assert "搬家配送" in str([c.value for c in book["说明"]["B"]])  # config.toml's categories
    result = run_cli("template", "--format", "csv", "--out", str(tmp_path / "t.txt"))
    assert result.returncode == 0, result.stderr
    data = (tmp_path / "t.txt").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + ",".join(COLUMNS).encode())
    assert run_cli("template", "--out", str(tmp_path / "t.csv")).returncode == 0  # the format from the name
    assert (tmp_path / "t.csv").read_bytes().startswith(b"\xef\xbb\xbf")
