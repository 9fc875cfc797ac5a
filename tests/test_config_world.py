"""The local gateway's world built from config.toml."""

from __future__ import annotations

from bot.config import Config
from bot.directory import Directory
from bot.gateway import WorldState
from bot.gateway.config_world import BOT_ID, room_by_topic, world_from_config


def test_every_configured_group_is_a_room_with_the_right_members(config: Config) -> None:
    world = world_from_config(config)
    assert (world.bot_id, world.bot_name) == (BOT_ID, config.bot.name)
    assert sorted(r.topic for r in world.rooms) == sorted(Directory(config).group_keys)
    assert len({r.id for r in world.rooms}) == len(world.rooms)
    contacts = {c.id: c for c in world.contacts}

    grid1 = room_by_topic(world, "洗马社区第一网格群")
    assert grid1 is not None
    # configured people are their WeChat ids (names are what the gateway shows); residents are demo names
    assert {"wxid_yangxianmei", "wxid_wangxiaohong", "张阿姨", "李大爷", "陈奶奶", "wxid_miling"} == set(grid1.member_ids)
    assert contacts["wxid_yangxianmei"].name == "杨先媚"

    market = room_by_topic(world, "洗马社区零工市场群")
    assert market is not None
    xima = config.community("洗马社区")
    assert {w.wechat for w in xima.workers} <= set(market.member_ids)
    assert {s.wechat_id for g in xima.grids for s in g.staff} <= set(market.member_ids)
    assert "wxid_longshifu" not in market.member_ids  # another community's worker
    assert contacts["wxid_xiongmingxiang"].name == "熊明祥" and contacts["wxid_xiongmingxiang"].friend


def test_room_ids_in_config_are_kept(config: Config) -> None:
    from dataclasses import replace

    community = config.communities[1]
    grid = replace(community.grids[0], groups=("12345@chatroom",))
    config = replace(config, communities=(config.communities[0], replace(community, grids=(grid,))))
    assert room_by_topic(world_from_config(config), "12345@chatroom").id == "12345@chatroom"


def test_message_ids_differ_between_gateway_runs(config: Config) -> None:
    world = world_from_config(config)
    first, second = WorldState(world), WorldState(world)
    assert first.new_message_id() != second.new_message_id()
