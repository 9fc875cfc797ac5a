"""A whole realistic day through ``linggong replay``: the right orders, states and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_config
from bot.replay import ReplayError, parse_lines, replay_file
from storage import open_repository
from tests.conftest import ROOT

DAY = Path(__file__).parent / "data" / "xima_day.jsonl"


@pytest.fixture
def day_config(config):
    from dataclasses import replace

    # staff and workers write from their WeChat ids (from_id), which differ from their names
    paced = load_config(ROOT / "config.toml").outbox  # the real pacing: late notices coalesce
    return replace(config, outbox=paced)


async def test_replay_of_a_day(day_config, tmp_path):
    db = str(tmp_path / "day.db")
    _, out = await replay_file(day_config, DAY, db)
    repo = await open_repository(db)
    async with repo.transaction() as tx:
        orders = {(o.community, o.no): o for o in await tx.find_orders()}
    await repo.close()
    state = {key: (o.status, o.category, o.taker.name if o.taker else None, o.rating) for key, o in orders.items()}
    assert state == {
        ("洗马社区", 1): ("done", "家电水电维修", "熊明祥", 5),
        ("洗马社区", 2): ("done", "搬家配送", "曹志强", 4),
        ("洗马社区", 3): ("dismissed", "搬家配送", None, None),  # a neighbour's remark the model was unsure of
        ("洗马社区", 4): ("taken", "陪诊代办", "蒋秀英", None),
        ("洗马社区", 5): ("done", "管道疏通", "熊明祥", 1),
        ("洗马社区", 6): ("taken", "家具安装", "袁锁匠", None),
        ("洗马社区", 7): ("cancelled", "开锁换锁", None, None),
        ("洗马社区", 8): ("taken", "家政护工保洁", "邱桂兰", None),
        ("茅草西社区", 1): ("taken", "家电水电维修", "龙师傅", None),
    }
    assert orders[("洗马社区", 1)].claim_seconds == 5

    def said(room=None, dm=None, contains=""):
        return [o for o in out if (room is None or o["room"] == room) and (dm is None or o["dm"] == dm)
                and contains in o["text"]]

    market = "洗马社区零工市场群"
    assert len(said(market, contains="#1 被 熊明祥")) == 1 and "用时 5 秒" in said(market, contains="#1 被")[0]["text"]
    assert said(market, contains="#1 已被 熊明祥")[0]["mentions"] == ["韩德明", "雷小军"]
    assert said(dm="熊明祥", contains="13908521234"), "the taker's direct message carries the phone"
    assert said(market, contains="张待接单"), "a bare claim with two open orders asks which"
    assert said("洗马社区第三网格群", contains="请网格员尽快回访")[0]["mentions"] == ["孙丽", "钱卫东"]
    assert said("茅草西社区零工市场群", contains="没有找到订单 #8"), "order numbers are per community"
    assert said(dm="刘芳", contains="可能是需求 #3") and said(dm="赵敏", contains="可能是需求 #3")
    assert not said("洗马社区第二网格群", contains="#3"), "nothing is said in the group about a review"
    # privacy: no resident phone or door number ever reaches a market group
    for line in out:
        if line["room"] and "市场群" in line["room"]:
            for secret in ("13908521234", "13985215678", "13712345678", "501", "302室", "13700137000"):
                assert secret not in line["text"], line
    for line in out:
        assert set(line) == {"at", "room", "dm", "text", "mentions"}


async def test_replaying_the_same_file_twice_into_one_database_changes_nothing(day_config, tmp_path):
    db = str(tmp_path / "day.db")
    await replay_file(day_config, DAY, db)
    _, again = await replay_file(day_config, DAY, db)
    assert again == []


@pytest.mark.parametrize(
    "line, error",
    [
        ('{"room": "群", "from": "a", "text": "x"}', "chat.jsonl:1: 'at' must be a time"),
        ('{"at": "2026-11-23 25:00:00", "room": "群", "from": "a", "text": "x"}', "chat.jsonl:1: 'at' must be"),
        ('{"at": "2026-11-23 08:00:00", "from": "a", "text": "x"}', "chat.jsonl:1: give either"),
        ('{"at": "2026-11-23 08:00:00", "room": "群", "text": "x"}', "chat.jsonl:1: 'from' must be a text"),
        ('not json', "chat.jsonl:1: not valid JSON"),
        ('[1, 2]', "chat.jsonl:1: expected a JSON object"),
    ],
    ids=["no-at", "bad-time", "no-room", "no-from", "not-json", "not-object"],
)
def test_bad_replay_lines_are_named(config, line, error):
    with pytest.raises(ReplayError) as err:
        parse_lines([line], config)
    assert str(err.value).startswith(error)


def test_replay_command_writes_json_lines_and_orders_lists_them(tmp_path):
    db, out = tmp_path / "cli.db", tmp_path / "out.jsonl"
    cli = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]
    subprocess.run([*cli, "replay", str(DAY), "--db", str(db), "--out", str(out)], check=True, cwd=tmp_path)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines and all(set(line) == {"at", "room", "dm", "text", "mentions"} for line in lines)
    listed = subprocess.run([*cli, "orders", "--db", str(db), "--json"], check=True, cwd=tmp_path,
                            capture_output=True, text=True).stdout.splitlines()
    rows = [json.loads(line) for line in listed]
    assert len(rows) == 9 and {r["status"] for r in rows} == {"done", "taken", "cancelled", "dismissed"}
    table = subprocess.run([*cli, "orders", "--db", str(db)], check=True, cwd=tmp_path, capture_output=True,
                           text=True).stdout
    assert "熊明祥" in table and "#1" in table


def test_bad_replay_file_is_an_error_naming_the_line(tmp_path):
    chat = tmp_path / "bad.jsonl"
    chat.write_text('{"at": "2026-11-23 08:00:00", "room": "群", "from": "a", "text": "x"}\n{"at": 1}\n', "utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "replay",
                             str(chat)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "bad.jsonl:2: 'at' must be a time" in result.stderr
