"""The bot against the official Wechaty gateway (deploy/gateway: puppet-service's PuppetServer
over wechaty-puppet-mock, both from npm): the order loop, restarts of either side, duplicate
events, and messages as real puppets send them.

The bot is the real runtime (App, SQLite file, real-clock outbox, the wechaty client); what it
sent is read from the mock puppet's own record of ``messageSendText``.  Waits are polls with
timeouts, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from grpclib.exceptions import GRPCError, StreamTerminatedError

from bot.config import Config
from bot.gateway import world_from_config
from bot.runtime import BotRuntime
from bot.wechat.channel import Tls, open_channel, token_sni
from bot.wechat.support import Timings
from tests.conftest import wid
from tests.official_gateway import AUDIO, IMAGE, TOKEN, OfficialGateway, require_gateway

GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
PHONE = "13908521234"
NEED = f"我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话{PHONE}"
# The mock answers a ding with a dong after a second: the deadline leaves room for that.
TIMINGS = Timings(
    ding_interval=0.5, event_deadline=5.0, rpc_timeout=5.0, connect_timeout=2.0, backoff_initial=0.1,
    backoff_factor=2.0, backoff_max=0.5, send_ready_wait=5.0, cache_ttl=60.0, shutdown_grace=2.0,
)


@pytest.fixture
def og_config(config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    require_gateway()
    for name in ("WECHATY_PUPPET_SERVICE_ENDPOINT", "WECHATY_PUPPET_SERVICE_TOKEN", "WECHATY_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "wechaty-cache"))
    monkeypatch.chdir(tmp_path)
    return replace(config, outbox=replace(config.outbox, min_interval=0.0, per_minute=10_000),
                   wechat=replace(config.wechat, token=TOKEN, watchdog_deadline=TIMINGS.event_deadline,
                                  send_interval=0.0),
                   web=replace(config.web, port=0))


@pytest.fixture
async def gateway(og_config: Config, tmp_path: Path) -> AsyncIterator[OfficialGateway]:
    gw = OfficialGateway(world_from_config(og_config), tmp_path)
    await gw.start()
    yield gw
    await gw.stop()


async def until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await predicate()
            if result:
                return result
            await asyncio.sleep(0.05)


class Bot:
    def __init__(self, runtime: BotRuntime, gw: OfficialGateway) -> None:
        self.runtime, self.gw = runtime, gw

    async def say(self, who: str, room: str | None, text: str, **extra: Any) -> list[dict[str, Any]]:
        """``who`` (a display name of the demo world) says ``text``; what the bot sent for it."""
        start = len(await self.gw.sent())
        message_id = await self.gw.say(wid(who), text, room, **extra)
        await self.runtime.wait_handled(message_id, 10.0)
        await self.runtime.wait_outbox_idle(10.0)
        return await self.gw.sent(start)

    def in_room(self, records: list[dict[str, Any]], topic: str) -> list[dict[str, Any]]:
        return [r for r in records if r["conversation"] == self.gw.rooms[topic]]

    def to(self, records: list[dict[str, Any]], who: str) -> list[dict[str, Any]]:
        return [r for r in records if r["conversation"] == wid(who)]

    async def order(self, no: int = 1):
        async with self.runtime.repo.transaction() as tx:
            return await tx.get_order("洗马社区", no)


async def start_bot(config: Config, db: Path, gw: OfficialGateway) -> Bot:
    config = replace(config, wechat=replace(config.wechat, endpoint=gw.endpoint))
    runtime = BotRuntime(config, str(db), timings=TIMINGS, scheduler=False)
    await runtime.start()
    await runtime.wait_ready(30.0)
    return Bot(runtime, gw)


@pytest.fixture
async def bot(og_config: Config, gateway: OfficialGateway, tmp_path: Path) -> AsyncIterator[Bot]:
    b = await start_bot(og_config, tmp_path / "og.db", gateway)
    yield b
    await b.runtime.stop()


async def test_the_whole_order_loop_through_the_official_gateway(bot: Bot) -> None:
    (ack,) = await bot.say("张阿姨", GRID1, NEED)
    assert ack["conversation"] == bot.gw.rooms[GRID1] and ack["mentions"] == [wid("张阿姨")] and "#1" in ack["text"]
    sent = await bot.say("杨先媚", GRID1, "派单1")
    (card,) = bot.in_room(sent, MARKET)
    assert "【派单 #1】" in card["text"] and PHONE not in card["text"] and "501" not in card["text"]

    sent = await bot.say("熊明祥", MARKET, "接1")
    order = await bot.order(1)
    assert order.status == "taken" and order.taker.wechat == wid("熊明祥")
    dm = bot.to(sent, "熊明祥")
    assert dm and PHONE in dm[0]["text"], sent  # the full phone only in the taker's direct message
    assert all(PHONE not in r["text"] for r in bot.in_room(sent, MARKET) + bot.in_room(sent, GRID1))
    (told,) = bot.in_room(sent, GRID1)
    assert told["mentions"] == [wid("张阿姨")] and PHONE not in told["text"]  # @ by id, phone masked
    sent = await bot.say("熊明祥", MARKET, "完成1")
    assert any("#1 已完成" in r["text"] for r in bot.in_room(sent, MARKET))
    await bot.say("张阿姨", GRID1, "满意1")
    order = await bot.order(1)
    assert (order.status, order.rating) == ("done", 5)


async def posted_and_dispatched(bot: Bot) -> None:
    await bot.say("张阿姨", GRID1, NEED)
    assert len(bot.in_room(await bot.say("杨先媚", GRID1, "派单1"), MARKET)) == 1


async def test_a_restarted_bot_never_logs_the_account_out(og_config: Config, gateway: OfficialGateway,
                                                          tmp_path: Path) -> None:
    db = tmp_path / "restart.db"
    for _ in range(3):
        b = await start_bot(og_config, db, gateway)
        await b.runtime.stop()
    b = await start_bot(og_config, db, gateway)
    try:
        session = b.runtime.bot._session
        assert session is not None
        session.end("test: the watchdog gave up on this connection")  # as a silent gateway would
        await until(lambda: _reconnected(b, session), what="a second connection")
        await b.runtime.wait_ready(30.0)
        state = await gateway.state()
        assert state["stops"] == 0 and state["logins"] == 1 and state["logouts"] == 0, state
        assert state["loggedIn"] is True
        await posted_and_dispatched(b)
    finally:
        await b.runtime.stop()


async def _reconnected(b: Bot, old: Any) -> bool:
    session = b.runtime.bot._session
    return session is not None and session is not old and bool(session.self_id)


async def test_the_gateway_restarting_is_survived(og_config: Config, gateway: OfficialGateway, bot: Bot) -> None:
    await posted_and_dispatched(bot)
    await gateway.kill()
    await gateway.start()
    await bot.runtime.wait_ready(30.0)
    sent = await until(lambda: _claim(bot), what="a claim after the gateway came back")
    assert bot.to(sent, "熊明祥")
    assert (await bot.order(1)).status == "taken"


async def _claim(bot: Bot) -> list[dict[str, Any]] | None:
    try:
        return await bot.say("熊明祥", MARKET, "接1")
    except TimeoutError:
        return None


async def test_a_duplicated_event_is_handled_once(bot: Bot) -> None:
    await posted_and_dispatched(bot)
    sent = await bot.say("熊明祥", MARKET, "接1", repeat=3)
    assert len(bot.to(sent, "熊明祥")) == 1
    sent += await bot.say("杨先媚", MARKET, "接1")
    assert (await bot.order(1)).taker.wechat == wid("熊明祥")


def quote_reply(card: str, reply: str, room_id: str) -> str:
    """A quote-reply as iPad/PC puppets deliver it: the appmsg XML of type 57, sender id first."""
    content = card.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f"{wid('熊明祥')}:\n<?xml version=\"1.0\"?><msg><appmsg appid=\"\" sdkver=\"0\"><title>{reply}</title>"
            f"<type>57</type><refermsg><type>1</type><svrid>7312</svrid><fromusr>{room_id}</fromusr>"
            f"<chatusr>wxid_linggong_bot</chatusr><displayname>零工派单助手</displayname>"
            f"<content>{content}</content></refermsg></appmsg><fromusername>{wid('熊明祥')}</fromusername></msg>")


async def test_a_claim_typed_as_a_quote_reply_to_the_card_takes_that_order(bot: Bot) -> None:
    await bot.say("张阿姨", GRID1, NEED)
    await bot.say("张阿姨", GRID1, "我家灯不亮了，帮忙换个灯泡，阳光小区5栋1单元302，电话13908525678")
    await bot.say("杨先媚", GRID1, "派单1")
    (card2,) = bot.in_room(await bot.say("杨先媚", GRID1, "派单2"), MARKET)
    assert "#2" in card2["text"]
    xml = quote_reply(card2["text"], "接", bot.gw.rooms[MARKET])
    sent = await bot.say("熊明祥", MARKET, xml, type=0)  # not a text message: the puppet's "unknown"
    assert bot.to(sent, "熊明祥")
    assert (await bot.order(2)).status == "taken" and (await bot.order(1)).status != "taken"


async def test_a_voice_note_is_acknowledged_and_passed_to_the_grid_staff(bot: Bot) -> None:
    sent = await bot.say("张阿姨", GRID1, "", type=AUDIO)
    (ack,) = bot.in_room(sent, GRID1)
    assert "语音" in ack["text"] and ack["mentions"] == [wid("张阿姨")]
    (staff,) = bot.to(sent, "杨先媚")
    assert "张阿姨" in staff["text"] and "代发单" in staff["text"]
    sent = await bot.say("张阿姨", GRID1, "", type=AUDIO)  # a second note soon after: no more noise
    assert sent == []
    sent = await bot.say("李大爷", GRID1, "", type=IMAGE)
    assert any("图片" in r["text"] for r in bot.in_room(sent, GRID1))


# -- TLS: the gateway with a certificate made here, the bot with [wechat] tls = true ------------------

def make_certificates(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``name`` signed by it: (ca, cert, key)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates")
    ca_key, ca, key, csr, cert, ext = (folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                             "server.pem", "server.ext"))
    ext.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                   "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n")
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=linggong test CA"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext])
    return ca, cert, key


@pytest.fixture
async def tls_gateway(og_config: Config, tmp_path: Path) -> AsyncIterator[tuple[OfficialGateway, Path]]:
    ca, cert, key = make_certificates(tmp_path, token_sni(TOKEN))
    gw = OfficialGateway(world_from_config(og_config), tmp_path, tls=(cert, key))
    await gw.start()
    yield gw, ca
    await gw.stop()


async def test_the_order_loop_over_tls(og_config: Config, tls_gateway, tmp_path: Path) -> None:
    gw, ca = tls_gateway
    config = replace(og_config, wechat=replace(og_config.wechat, tls=True, tls_ca_file=str(ca)))
    bot = await start_bot(config, tmp_path / "tls.db", gw)
    try:
        (ack,) = await bot.say("张阿姨", GRID1, NEED)
        assert "#1" in ack["text"]
        assert bot.in_room(await bot.say("杨先媚", GRID1, "派单1"), MARKET)
        assert bot.to(await bot.say("熊明祥", MARKET, "接1"), "熊明祥")
    finally:
        await bot.runtime.stop()


async def _ding(endpoint: str, tls: Tls | None, token: str = TOKEN) -> None:
    from wechaty_grpc.wechaty import PuppetStub

    channel, metadata = open_channel(endpoint, token, tls)
    try:
        await asyncio.wait_for(PuppetStub(channel, metadata=metadata).ding(data="x"), 10)
    finally:
        channel.close()


async def test_tls_checks_the_certificate_and_the_token(tls_gateway) -> None:
    gw, ca = tls_gateway
    await _ding(gw.endpoint, Tls(ca_file=str(ca)))  # the right CA, the token's name: answered
    with pytest.raises(ssl.SSLCertVerificationError):
        await _ding(gw.endpoint, Tls())  # the system's roots do not know this CA
    with pytest.raises(ssl.SSLCertVerificationError):
        await _ding(gw.endpoint, Tls(ca_file=str(ca), server_name="someone-else"))
    with pytest.raises(GRPCError):
        await _ding(gw.endpoint, Tls(ca_file=str(ca), server_name=token_sni(TOKEN)), token="insecure_wrong")
    with pytest.raises((ConnectionError, GRPCError, StreamTerminatedError, OSError, TimeoutError)):
        await _ding(gw.endpoint, None)  # plain HTTP/2 to a TLS gateway


def test_the_server_name_comes_from_the_token_as_in_wechaty_1() -> None:
    assert token_sni("insecure_0a1b") == "insecure"
    assert token_sni("puppet_WXWORK_0a1b") == "puppet_wxwork"
    assert token_sni("linggong-local") == ""


# -- at least once: what the gateway keeps for a bot that is away or was killed ------------------------

async def test_a_need_posted_while_the_bot_restarts_is_handled_when_it_is_back(
        og_config: Config, gateway: OfficialGateway, tmp_path: Path) -> None:
    db = tmp_path / "away.db"
    b = await start_bot(og_config, db, gateway)
    await b.runtime.stop()
    message_id = await gateway.say(wid("张阿姨"), NEED, GRID1)  # nobody connected: the gateway keeps it
    b = await start_bot(og_config, db, gateway)
    try:
        await b.runtime.wait_handled(message_id, 15.0)
        await b.runtime.wait_outbox_idle(10.0)
        assert (await b.order(1)) is not None
        state = await gateway.state()
        assert state["stops"] == 0 and state["logins"] == 1
    finally:
        await b.runtime.stop()


async def _first_message_event(endpoint: str, *, hold: bool) -> tuple[str, Any]:
    """Open the event stream as a bare client; return the first message event's id (and, with
    ``hold``, the still open channel, else it is closed at once as by a killed bot)."""
    from wechaty_grpc.wechaty import PuppetStub
    from wechaty_grpc.wechaty.puppet import EventType

    channel, metadata = open_channel(endpoint, TOKEN, None)
    stub = PuppetStub(channel, metadata=metadata)
    await stub.start()
    async with asyncio.timeout(15):
        async for event in stub.event():
            if event.type == EventType.EVENT_TYPE_MESSAGE:
                message_id = json.loads(event.payload)["messageId"]
                break
    if not hold:
        channel.close()
        return message_id, None
    return message_id, channel


async def test_a_message_written_to_a_killed_bots_connection_is_delivered_again(gateway: OfficialGateway) -> None:
    reader = asyncio.create_task(_first_message_event(gateway.endpoint, hold=False))
    await until(lambda: _streams_open(gateway))
    sent_id = await gateway.say(wid("张阿姨"), NEED, GRID1)
    first, _ = await reader
    assert first == sent_id  # it reached the client, which then vanished without handling it
    again, channel = await _first_message_event(gateway.endpoint, hold=True)
    channel.close()
    assert again == sent_id


async def _streams_open(gateway: OfficialGateway) -> bool:
    return (await gateway.state())["streams"] > 0  # the client's event stream is attached


# -- the account's state, visible: QR code, login, logout ----------------------------------------------

async def test_the_qr_code_login_and_a_logout_are_visible(og_config: Config, tmp_path: Path) -> None:
    gw = OfficialGateway(world_from_config(og_config), tmp_path, needs_scan=True)
    await gw.start()
    config = replace(og_config, wechat=replace(og_config.wechat, endpoint=gw.endpoint))
    runtime = BotRuntime(config, str(tmp_path / "scan.db"), timings=TIMINGS, scheduler=False)
    try:
        await runtime.start()

        async def state(expected: str) -> bool:
            return runtime.account.status.state == expected

        await until(lambda: state("waiting_scan"))
        assert runtime.account.status.qrcode.startswith("https://login.weixin.qq.com/l/mock-")
        await gw.call("POST", "/scan")  # someone scans it with the bot's phone
        await until(lambda: state("logged_in"))
        assert runtime.account.status.name == og_config.bot.name and runtime.account.status.qrcode == ""
        await gw.call("POST", "/logout")  # WeChat ends the session
        await until(lambda: state("logged_out"))
        assert not runtime.bot.ready
    finally:
        await runtime.stop()
        await gw.stop()
