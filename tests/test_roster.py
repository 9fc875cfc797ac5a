"""Roster CSV import/export: bad rows are named by line and nothing is half-imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.sheets.roster import RosterError, export_roster, import_roster, parse_roster
from tests.conftest import ROOT

HEADER = "姓名,微信号或昵称,电话,技能,团队,承诺书日期,状态\n"
CATS = {"家电水电维修", "搬家配送", "家政护工保洁"}


def test_parse_good_roster():
    rows = parse_roster(HEADER + "熊明祥,xmx,13985201234,家电水电维修、搬家配送,水电一队,2026-03-01,已登记\n"
                        "邱桂兰,,13985206789,家政护工保洁,,,待审核\n", CATS)
    assert rows[0].skills == ("家电水电维修", "搬家配送") and rows[0].status == "active"
    assert rows[1].wechat == "邱桂兰" and rows[1].status == "pending" and rows[1].team is None


@pytest.mark.parametrize(
    "body, problem",
    [
        ("熊明祥,x,123,家电水电维修,,,\n", "roster.csv:2: 电话 '123' is not an 11-digit mobile number"),
        ("熊明祥,x,13985201234,飞行,,,\n", "roster.csv:2: 技能 飞行 not in the configured categories"),
        ("熊明祥,x,13985201234,,,2026-13-01,\n", "roster.csv:2: 承诺书日期 '2026-13-01' must look like"),
        ("熊明祥,x,13985201234,,,,退休\n", "roster.csv:2: 状态 '退休' must be one of"),
        ("熊明祥,x,13985201234,,,,\n熊明祥,y,13985201235,,,,\n", "roster.csv:3: 熊明祥 appears twice"),
        (",x,13985201234,,,,\n", "roster.csv:2: 姓名 is empty"),
    ],
    ids=["bad-phone", "unknown-skill", "bad-date", "bad-status", "duplicate", "no-name"],
)
def test_bad_rows_are_named(body, problem):
    with pytest.raises(RosterError) as err:
        parse_roster(HEADER + body, CATS)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_wrong_header():
    with pytest.raises(RosterError, match="roster.csv:1: the header must be"):
        parse_roster("name,phone\n", CATS)


async def test_import_then_export_round_trip(chat):
    rows = parse_roster(HEADER + "新师傅,wx_new,13985209999,搬家配送,搬家二队,2026-05-01,已登记\n"
                        "熊明祥,熊明祥,13985201234,家电水电维修,水电一队,2026-03-01,停用\n", CATS)
    counts = await import_roster(chat.app.repo, "洗马社区", rows, 0.0)
    assert counts == {"added": 1, "updated": 1}
    text = await export_roster(chat.app.repo, "洗马社区")
    assert "新师傅,wx_new,13985209999,搬家配送,搬家二队,2026-05-01,已登记" in text
    # a file never overwrites a bound worker's WeChat id with a nickname (issue 11)
    assert "熊明祥,wxid_xiongmingxiang,13985201234,家电水电维修,水电一队,2026-03-01,停用" in text


def test_workers_cli_rejects_a_bad_file_and_imports_nothing(tmp_path):
    cli = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "甲,a,13985200001,搬家配送,,,\n乙,b,999,搬家配送,,,\n", encoding="utf-8")
    db = str(tmp_path / "w.db")
    result = subprocess.run([*cli, "workers", "import", str(bad), "--db", db], capture_output=True, text=True)
    assert result.returncode == 2 and "bad.csv:3" in result.stderr
    out = tmp_path / "out.csv"
    subprocess.run([*cli, "workers", "export", str(out), "--db", db], check=True, capture_output=True)
    assert "甲" not in out.read_text(encoding="utf-8-sig")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "甲,a,13985200001,搬家配送,,,\n", encoding="utf-8")
    subprocess.run([*cli, "workers", "import", str(good), "--db", db], check=True, capture_output=True)
    subprocess.run([*cli, "workers", "export", str(out), "--db", db], check=True, capture_output=True)
    assert "甲,a,13985200001,搬家配送" in out.read_text(encoding="utf-8-sig")
