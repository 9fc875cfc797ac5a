"""Scheduled jobs: a replayed week, catch-up after downtime, and each job body on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bot.config import load_config
from bot.replay import replay_file
from bot.schedule.jobs import followup_due, report_period, run_report, sweep
from bot.schedule.scheduler import build_jobs, catch_up, last_fire, start_realtime
from storage import open_repository
from tests.conftest import ROOT

WEEK = Path(__file__).parent / "data" / "xima_week.jsonl"
MARKET = "洗马社区零工市场群"


@pytest.fixture
def paced(config, tmp_path):
    real = load_config(ROOT / "config.toml")
    communities = tuple(replace(c, schedule=replace(c.schedule, export_dir=str(tmp_path / "exports")))
                        for c in real.communities)
    return replace(real, communities=communities)


@pytest.fixture
async def week(paced, tmp_path):
    db = str(tmp_path / "week.db")
    _, out = await replay_file(paced, WEEK, db)
    return out, db


def said(out, room=None, dm=None, contains=""):
    return [o for o in out if (room is None or o["room"] == room) and (dm is None or o["dm"] == dm)
            and contains in o["text"]]


async def test_a_tally_at_20_each_day_and_one_late_tally_after_downtime(week):
    out, db = week
    tallies = said(out, MARKET, contains="接单统计")
    assert [t["at"][:10] for t in tallies] == [f"2026-11-{d}" for d in range(23, 30)]
    on_time = [t for t in tallies if "补发" not in t["text"]]
    assert all(t["at"].endswith("20:00:00") for t in on_time) and len(on_time) == 6
    (late,) = [t for t in tallies if "补发" in t["text"]]
    assert late["at"] == "2026-11-26 21:00:00" and "11月26日" in late["text"]
    grid = [t["at"][:10] for t in said(out, "洗马社区第一网格群", contains="第一网格 11月")]
    assert grid == ["2026-11-23", *(f"2026-11-{d}" for d in range(25, 30))], "a quiet grid (Tuesday) gets no zeros"
    repo = await open_repository(db)
    async with repo.transaction() as tx:
        runs = await tx.job_runs("daily_tally")
    await repo.close()
    assert [(r["period"], r["late"]) for r in runs if r["community"] == "洗马社区"] == [
        (f"2026-11-{d}", int(d == 26)) for d in range(23, 30)]


async def test_weekly_ranking_on_monday(week):
    out, _ = week
    (ranking,) = said(out, MARKET, contains="上周接单王")
    assert ranking["at"] == "2026-11-30 09:00:00" and "11月23日-11月29日" in ranking["text"]
    assert ranking["text"].index("曹志强") > 0 and "1. " in ranking["text"]


async def test_escalation_at_the_right_minutes(week):
    out, _ = week
    (card,) = said(out, MARKET, contains="【急单 #")
    assert card["at"] == "2026-11-24 10:10:00"
    (staff,) = said(out, "洗马社区第三网格群", contains="还没人接")
    assert staff["at"] == "2026-11-24 10:10:00" and staff["mentions"] == ["孙丽", "钱卫东"]
    admins = said(out, dm="糜伶", contains="仍无人接单")
    assert len(admins) == 1 and admins[0]["at"] == "2026-11-24 10:30:00"


async def test_follow_ups_wait_for_the_morning(week):
    out, _ = week
    asks = said(out, contains="回访：您的订单")
    assert asks and all("09:00" <= a["at"][11:16] < "21:00" for a in asks), "never at night"
    (late_evening,) = [a for a in asks if "#2（" in a["text"]]
    assert late_evening["at"] == "2026-11-24 09:00:00", "done at 19:10, asked the next morning"
    (daytime,) = [a for a in asks if "#3（" in a["text"]]
    assert daytime["at"] == "2026-11-23 20:20:00", "done at 18:20, asked two hours later"
    assert not [a for a in asks if "#1（" in a["text"]], "rated before the follow-up: not asked again"


async def test_xlsx_rows_match_orders(week, paced, tmp_path):
    from openpyxl import load_workbook

    _, db = week
    cli = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]
    xlsx = tmp_path / "nov.xlsx"
    subprocess.run([*cli, "export", "--from", "2026-11-01", "--to", "2026-11-30", "--db", db, "--out", str(xlsx)],
                   check=True, capture_output=True)
    listed = subprocess.run([*cli, "orders", "--db", db, "--json"], check=True, capture_output=True,
                            text=True).stdout.splitlines()
    orders = [json.loads(line) for line in listed]
    book = load_workbook(xlsx)
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[2]]  # row 1: the title
    assert header[:3] == ["编号", "网格", "类别"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert [r[0] for r in rows] == [f"#{o['no']}" for o in orders]
    assert [r[6] or None for r in rows] == [o["taker"] for o in orders]
    for row in rows:
        assert "13908521234" not in str(row) and "501室" not in str(row)
    assert book.worksheets[1].max_row > 1, "the per-worker summary sheet"
    exports = list((tmp_path / "exports").glob("洗马社区-*.xlsx"))
    assert len(exports) == 7, "the daily tally writes that day's xlsx"


async def test_report_command_prints_what_the_bot_posts(week):
    _, db = week
    cli = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]
    daily = subprocess.run([*cli, "report", "daily", "--date", "2026-11-24", "--db", db], check=True,
                           capture_output=True, text=True).stdout
    assert "11月24日 接单统计" in daily
    weekly = subprocess.run([*cli, "report", "ranking", "--period", "week", "--date", "2026-11-25", "--db", db],
                            check=True, capture_output=True, text=True).stdout
    assert "上周接单王（11月23日-11月29日）" in weekly
    bad = subprocess.run([*cli, "report", "daily", "--date", "tomorrow", "--db", db], capture_output=True, text=True)
    assert bad.returncode == 2 and "--date 'tomorrow'" in bad.stderr


async def test_a_report_is_posted_once_per_period(chat):
    community = chat.app.config.communities[0]
    due = datetime(2026, 11, 23, 20, 0, tzinfo=chat.app.config.tz)
    assert await run_report(chat.app, "daily_tally", community, due)
    assert not await run_report(chat.app, "daily_tally", community, due)
    await chat.outbox.flush()
    assert len([s for s in chat.transport.sent if s.room == MARKET and "接单统计" in s.text]) == 1


async def test_a_fresh_install_posts_no_late_reports(chat):
    chat.clock.set(datetime(2026, 11, 23, 21, 0, tzinfo=chat.app.config.tz))
    await catch_up(chat.app, build_jobs(chat.app.config))
    await chat.outbox.flush()
    assert [s for s in chat.transport.sent if "补发" in s.text] == []


async def test_stale_order_reminds_taker_and_staff_once(chat, grid1, market):
    await grid1.say("张阿姨", "需要修水管，电话13908521234")
    await grid1.say("杨先媚", "派单1")
    await market.say("熊明祥", "接1")
    chat.clock.advance(hours=25)
    community = chat.app.config.communities[0]
    await sweep(chat.app, community)
    await sweep(chat.app, community)
    await chat.outbox.flush()
    reminders = [s for s in chat.transport.sent if "超过" in s.text]
    assert {s.contact or s.room for s in reminders} == {chat.id("熊明祥"), "洗马社区第一网格群"} and len(reminders) == 2


@pytest.mark.parametrize(
    "done, expected",
    [("2026-11-23 10:00", "2026-11-23 12:00"), ("2026-11-23 19:30", "2026-11-24 09:00"),
     ("2026-11-23 05:00", "2026-11-23 09:00"), ("2026-11-23 18:59", "2026-11-23 20:59")],
    ids=["daytime", "evening-waits-for-morning", "early-morning", "just-before-closing"],
)
def test_followup_due(config, done, expected):
    tz = config.tz
    ts = datetime.strptime(done, "%Y-%m-%d %H:%M").replace(tzinfo=tz).timestamp()
    due = datetime.fromtimestamp(followup_due(config.communities[0], ts, tz), tz)
    assert due.strftime("%Y-%m-%d %H:%M") == expected


@pytest.mark.parametrize(
    "job, due, period",
    [("daily_tally", "2026-11-23 20:00", "2026-11-23"), ("weekly_ranking", "2026-11-30 09:00", "2026-11-23W"),
     ("monthly_ranking", "2026-12-01 09:00", "2026-11"), ("yearly_ranking", "2027-01-01 09:00", "2026")],
    ids=["daily", "weekly", "monthly", "yearly"],
)
def test_report_period(config, job, due, period):
    when = datetime.strptime(due, "%Y-%m-%d %H:%M").replace(tzinfo=config.tz)
    assert report_period(job, when)[0] == period


def test_last_fire(config):
    (job,) = [j for j in build_jobs(config) if j.name == "weekly_ranking" and j.community.name == "洗马社区"]
    now = datetime(2026, 11, 25, 12, 0, tzinfo=config.tz)
    assert last_fire(job.trigger, now) == datetime(2026, 11, 23, 9, 0, tzinfo=config.tz)


async def test_realtime_scheduler_uses_the_same_triggers(chat):
    jobs = build_jobs(chat.app.config)
    scheduler = start_realtime(chat.app, jobs)
    try:
        scheduled = {job.id: job for job in scheduler.get_jobs()}
        assert set(scheduled) == {j.id for j in jobs}
        tally = scheduled["daily_tally:洗马社区"]
        assert (tally.next_run_time.hour, tally.next_run_time.minute) == (20, 0)
        assert str(tally.trigger) == str(next(j.trigger for j in jobs if j.id == "daily_tally:洗马社区"))
    finally:
        scheduler.shutdown(wait=False)


async def test_yearly_ranking_names_the_awards(chat, grid1, market):
    await grid1.say("张阿姨", "需要修水管，电话13908521234")
    await grid1.say("杨先媚", "派单1")
    await market.say("熊明祥", "接1")
    await market.say("熊明祥", "完成1")
    community = chat.app.config.communities[0]
    chat.clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=chat.app.config.tz))
    await run_report(chat.app, "yearly_ranking", community, chat.clock.now())
    await chat.outbox.flush()
    (text,) = [s.text for s in chat.transport.sent if "年度接单大王" in s.text]
    assert "2026年度接单大王" in text and "特别贡献奖：熊明祥" in text


async def test_confirmed_only_counts_confirmed_orders(chat, grid1, market):
    from handlers.reports import ranking

    for no, who in ((1, "熊明祥"), (2, "韩德明")):
        await grid1.say("张阿姨", "需要修水管，电话13908521234")
        await grid1.say("杨先媚", f"派单{no}")
        await market.say(who, f"接{no}")
        await market.say(who, f"完成{no}")
    await grid1.say("张阿姨", "不满意1")
    await grid1.say("张阿姨", "满意2")
    start = datetime(2026, 11, 1, tzinfo=chat.app.config.tz)
    end = datetime(2026, 12, 1, tzinfo=chat.app.config.tz)
    async with chat.app.repo.transaction() as tx:
        everything = await ranking(tx, "洗马社区", start, end)
        confirmed = await ranking(tx, "洗马社区", start, end, confirmed_only=True)
    assert {r.name for r in everything} == {"熊明祥", "韩德明"}
    assert [r.name for r in confirmed] == ["韩德明"]


async def test_suspended_workers_are_left_out_of_rankings(chat, grid1, market):
    await grid1.say("张阿姨", "需要修水管，电话13908521234")
    await grid1.say("杨先媚", "派单1")
    await market.say("熊明祥", "接1")
    await market.say("熊明祥", "完成1")
    await market.say("杨先媚", "停用 熊明祥")
    text = (await market.say("杨先媚", "接单王 本月"))[0].text
    assert "熊明祥" not in text
