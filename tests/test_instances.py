"""One instance among several: which communities it serves, which groups and contacts it reaches."""

from __future__ import annotations

from dataclasses import replace

from bot.instance import Scope, bot_account_key, process_id
from bot.schedule.scheduler import build_jobs, fire
from storage import display_database
from tests.conftest import to_room

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
MAOCAO_GRID = "茅草西一网格群"
MAOCAO_MARKET = "茅草西社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，电话13908521234"


def test_an_instance_serves_its_configured_communities_or_those_whose_groups_it_is_in(config):
    xima, maocao = config.communities
    anywhere = Scope(config)  # no login to go by (replay, tests): everything
    assert anywhere.serves(xima) and anywhere.serves(maocao)
    found = Scope(config, rooms=frozenset({MAOCAO_GRID}))
    assert not found.serves(xima) and found.serves(maocao)
    assert Scope(config, rooms=frozenset({MARKET})).served() == ["洗马社区"]  # a market group is a group too
    only_maocao = replace(config, bot=replace(config.bot, communities=("茅草西社区",)))
    named = Scope(only_maocao, rooms=frozenset({GRID1}))
    assert not named.serves(xima) and named.serves(maocao)
    assert not named.runs_jobs_for(xima) and named.runs_jobs_for(maocao)
    standby = Scope(only_maocao, rooms=frozenset({MAOCAO_GRID, MARKET}))  # also in 洗马's market group
    assert standby.served() == ["茅草西社区"] and standby.standby() == ["洗马社区"]
    assert standby.runs_jobs_for(xima) and not standby.serves(xima)
    assert Scope(config, rooms=frozenset()).served() == []  # before the login: nothing yet


def test_process_ids_differ_even_for_one_instance_name():
    assert process_id("账号1").startswith("账号1/") and process_id("账号1") != process_id("账号1")


def test_database_urls_are_logged_without_their_password():
    assert display_database("postgresql://linggong:s3cret@db:5432/lg") == "postgresql://linggong:***@db:5432/lg"
    assert display_database("postgresql://linggong@db/lg") == "postgresql://linggong@db/lg"
    assert display_database("data/linggong.db") == "data/linggong.db"


async def test_group_messages_of_communities_served_elsewhere_are_ignored(chat, config):
    chat.app.scope = Scope(replace(config, bot=replace(config.bot, communities=("茅草西社区",))))
    assert await chat.say(GRID1, "张阿姨", NEED) == []
    ack = await chat.say(MAOCAO_GRID, "潘阿姨", NEED)
    assert "#1" in ack[0].text
    assert await chat.say(None, "杨先媚", "今日统计")  # direct messages: whoever receives them answers
    assert [(o.community, o.no) for o in await chat.orders()] == [("茅草西社区", 1)]


async def test_another_instance_s_bot_account_is_not_a_resident(chat):
    async with chat.app.repo.transaction() as tx:
        await tx.set_meta(bot_account_key("wxid_other_bot"), "账号2")
    # the other bot's order card, seen in the market group, reads like a need
    assert await chat.say(GRID1, "wxid_other_bot", "【派单 #7】" + NEED, sender_id="wxid_other_bot") == []
    assert await chat.orders() == []
    assert to_room(await chat.say(GRID1, "张阿姨", NEED), GRID1)


async def test_jobs_run_only_for_communities_the_instance_serves_or_stands_by_for(chat, config, tmp_path):
    communities = tuple(replace(c, schedule=replace(c.schedule, export_dir=str(tmp_path))) for c in config.communities)
    jobs = {(j.name, j.community.name): j for j in build_jobs(replace(config, communities=communities))}
    only_maocao = replace(config, bot=replace(config.bot, communities=("茅草西社区",)))
    chat.app.scope = Scope(only_maocao, rooms=frozenset({MAOCAO_GRID, MAOCAO_MARKET}))
    now = chat.clock.now()
    await fire(chat.app, jobs[("daily_tally", "洗马社区")], now)
    await fire(chat.app, jobs[("daily_tally", "茅草西社区")], now)
    async with chat.app.repo.transaction() as tx:
        assert [r["community"] for r in await tx.job_runs("daily_tally")] == ["茅草西社区"]
    chat.app.scope = Scope(only_maocao, rooms=frozenset({MAOCAO_GRID, MAOCAO_MARKET, MARKET}))  # standby for 洗马
    await fire(chat.app, jobs[("daily_tally", "洗马社区")], now)
    async with chat.app.repo.transaction() as tx:
        assert sorted(r["community"] for r in await tx.job_runs("daily_tally")) == ["洗马社区", "茅草西社区"]
