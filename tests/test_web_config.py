"""The [web] section of config.toml: defaults and errors that name the key."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, WebConfig, parse_config
from tests.test_config import demo


def test_defaults_when_the_section_is_missing() -> None:
    data = demo()
    data.pop("web", None)
    assert parse_config(data).web == WebConfig()
    assert WebConfig() == WebConfig("127.0.0.1", 8080, "", 5, "")  # "": where the server serves


def test_values_are_read_and_the_public_url_loses_its_trailing_slash() -> None:
    data = demo()
    data["web"] = {"host": "0.0.0.0", "port": 0, "password": "s3cret", "qr_rate_per_hour": 2,
                   "public_url": "http://192.168.1.10:8080/"}
    assert parse_config(data).web == WebConfig("0.0.0.0", 0, "s3cret", 2, "http://192.168.1.10:8080")


@pytest.mark.parametrize("key, value, message", [
    ("port", 70000, "config.toml: web.port: expected a port number from 1 to 65535"),
    ("port", "8080", "config.toml: web.port: expected a port number such as 8080"),
    ("host", "", "config.toml: web.host: must not be empty"),
    ("password", 1234, "config.toml: web.password: expected a password in quotes"),
    ("qr_rate_per_hour", 0, "config.toml: web.qr_rate_per_hour: must be at least 1"),
    ("qr_rate_per_hour", True, "config.toml: web.qr_rate_per_hour: expected a whole number"),
    ("public_url", "192.168.1.10:8080", "config.toml: web.public_url: expected an address starting with http://"),
    ("pasword", "x", "config.toml: web.pasword: unknown key"),
])
def test_bad_values_name_the_key(key: str, value: object, message: str) -> None:
    data = demo()
    data.setdefault("web", {})[key] = value
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert str(err.value).startswith(message)
