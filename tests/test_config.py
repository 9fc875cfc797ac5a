"""config.toml validation: every error names the key."""

from __future__ import annotations

import tomllib

import pytest

from bot.config import ConfigError, parse_config
from tests.conftest import ROOT


def demo() -> dict:
    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def test_demo_config_is_valid_and_realistic():
    config = parse_config(demo())
    xima = config.community("洗马社区")
    assert len(xima.grids) == 7 and sum(len(g.staff) for g in xima.grids) == 14
    assert {"搬家配送", "家电水电维修", "家政护工保洁"} <= {c.name for c in config.categories}
    assert len(config.communities) == 2 and xima.workers


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["communities"][0]["grids"][2].__setitem__("groups", "群"),
         "config.toml: communities[0].grids[2].groups: expected a list of group names"),
        (lambda d: d["communities"][0].pop("market_groups"),
         "config.toml: communities[0].market_groups: missing; expected a list of group names"),
        (lambda d: d["bot"].__setitem__("timezone", "Mars/Base"),
         "config.toml: bot.timezone: unknown timezone 'Mars/Base'"),
        (lambda d: d["dispatch"].__setitem__("auto", "yes"), "config.toml: dispatch.auto: expected true or false"),
        (lambda d: d["dispatch"].__setitem__("max_active_per_worker", 0),
         "config.toml: dispatch.max_active_per_worker: must be at least 1"),
        (lambda d: d["communities"][0]["workers"][0].__setitem__("phone", "123"),
         "config.toml: communities[0].workers[0].phone: expected an 11-digit mobile number"),
        (lambda d: d["communities"][0]["workers"][0].__setitem__("skills", ["飞行"]),
         "config.toml: communities[0].workers[0].skills: unknown category '飞行'"),
        (lambda d: d["communities"][1]["grids"][0].__setitem__("groups", ["洗马社区第一网格群"]),
         "config.toml: communities[1].grids[0].groups: group '洗马社区第一网格群' is already used"),
        (lambda d: d["privacy"].__setitem__("mask_in_markt", True), "config.toml: privacy.mask_in_markt: unknown key"),
        (lambda d: d.__setitem__("categories", []), "config.toml: categories: at least one"),
    ],
    ids=["groups-not-list", "missing-market", "bad-timezone", "auto-not-bool", "max-active-zero",
         "worker-phone", "worker-skill", "duplicate-group", "typo-key", "no-categories"],
)
def test_bad_config_names_the_key(mutate, message):
    data = demo()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert str(err.value).startswith(message)


def test_wechat_section_defaults_and_demo_values():
    config = parse_config(demo())
    assert config.wechat.endpoint == "" and config.wechat.token == "linggong-local"
    assert (config.wechat.gateway_port, config.wechat.dm_fallback, config.wechat.watchdog_deadline) == (8788, "market", 30)
    data = demo()
    data.pop("wechat")
    assert parse_config(data).wechat == parse_config(demo()).wechat


@pytest.mark.parametrize(
    "values, message",
    [
        ({"dm_fallback": "email"}, "config.toml: wechat.dm_fallback: expected \"market\""),
        ({"gateway_port": 70000}, "config.toml: wechat.gateway_port: expected a port number"),
        ({"gateway_port": "8788"}, "config.toml: wechat.gateway_port: expected a port number"),
        ({"watchdog_deadline": 0}, "config.toml: wechat.watchdog_deadline: must be at least 1"),
        ({"endpoint": "gateway.example"}, "config.toml: wechat.endpoint: expected host:port"),
        ({"token": ""}, "config.toml: wechat.token: must not be empty"),
        ({"endpont": "x:1"}, "config.toml: wechat.endpont: unknown key"),
    ],
    ids=["fallback", "port-range", "port-text", "deadline", "endpoint", "token", "typo"],
)
def test_bad_wechat_values_name_the_key(values, message):
    data = demo()
    data["wechat"].update(values)
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert str(err.value).startswith(message)


def test_environment_overrides_the_wechat_section():
    from dataclasses import replace

    from bot.runtime import Connection, connection_settings, timings_for

    config = parse_config(demo())
    assert connection_settings(config) == Connection(None, "linggong-local", "local gateway")
    data = demo()
    data["wechat"].update(endpoint="10.0.0.2:8788", token="t1")
    assert connection_settings(parse_config(data)) == Connection("10.0.0.2:8788", "t1", "config")
    env = {"WECHATY_PUPPET_SERVICE_ENDPOINT": "127.0.0.1:9001", "WECHATY_PUPPET_SERVICE_TOKEN": "t2"}
    assert connection_settings(parse_config(data, environ=env)) == Connection("127.0.0.1:9001", "t2", "environment")
    timings = timings_for(replace(config, wechat=replace(config.wechat, watchdog_deadline=6)))
    assert (timings.event_deadline, timings.ding_interval) == (6, 2)


def test_instance_and_its_communities_from_the_file_or_the_environment(monkeypatch):
    data = demo()
    data["bot"].update(instance="遵义-账号1", communities=["茅草西社区"])
    data["outbox"].update(lease=60, orphan_after=10)
    config = parse_config(data)
    assert (config.bot.instance, config.bot.communities) == ("遵义-账号1", ("茅草西社区",))
    assert (config.outbox.lease, config.outbox.orphan_after) == (60, 10)
    monkeypatch.setenv("LINGGONG_INSTANCE", "账号2")
    monkeypatch.setenv("LINGGONG_COMMUNITIES", "洗马社区，茅草西社区")
    config = parse_config(data)
    assert (config.bot.instance, config.bot.communities) == ("账号2", ("洗马社区", "茅草西社区"))
    monkeypatch.setenv("LINGGONG_COMMUNITIES", "洗马社区,新蒲社区")
    with pytest.raises(ConfigError, match="LINGGONG_COMMUNITIES: unknown community '新蒲社区'"):
        parse_config(data)
    monkeypatch.delenv("LINGGONG_COMMUNITIES")
    data["bot"]["communities"] = ["新蒲社区"]
    with pytest.raises(ConfigError, match="config.toml: bot.communities: unknown community '新蒲社区'"):
        parse_config(data)
    data = demo()
    data["outbox"]["lease"] = 0
    with pytest.raises(ConfigError, match="config.toml: outbox.lease: must be at least 1"):
        parse_config(data)
