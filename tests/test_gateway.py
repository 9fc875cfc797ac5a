"""The local gateway on its own, through a raw gRPC stub (no wechaty client)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from wechaty_grpc.wechaty import PuppetStub

from bot.gateway import Gateway, World, serve_forever
from bot.gateway.service import EVENT_DONG, EVENT_LOGIN, EVENT_MESSAGE, EVENT_READY

pytestmark = pytest.mark.asyncio

WORLD = {
    "bot_id": "wxid_bot",
    "bot_name": "零工助手",
    "contacts": [{"id": "u1", "name": "张三"}, {"id": "u2", "name": "李四", "friend": False}],
    "rooms": [
        {"id": "r1@chatroom", "topic": "测试群", "member_ids": ["u1"], "aliases": {"u1": "三哥"}}
    ],
}


@contextlib.asynccontextmanager
async def client(port: int) -> AsyncIterator[PuppetStub]:
    channel = Channel("127.0.0.1", port)
    channel._authority = "test-token"  # what the wechaty client does with its token
    try:
        yield PuppetStub(channel, timeout=2.0)
    finally:
        channel.close()


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway(World.from_dict(WORLD))
    await gw.start()
    yield gw
    await gw.stop()


async def test_world_payloads(gateway: Gateway) -> None:
    async with client(gateway.port) as stub:
        rooms = await stub.room_list()
        assert rooms.ids == ["r1@chatroom"]
        room = await stub.room_payload(id="r1@chatroom")
        assert (room.topic, room.member_ids) == ("测试群", ["u1", "wxid_bot"])
        member = await stub.room_member_payload(id="r1@chatroom", member_id="u1")
        assert (member.name, member.room_alias) == ("张三", "三哥")
        contact = await stub.contact_payload(id="u2")
        assert (contact.name, contact.friend) == ("李四", False)
        with pytest.raises(GRPCError) as missing:
            await stub.contact_payload(id="nobody")
        assert missing.value.status == Status.NOT_FOUND


async def test_events_login_dong_and_messages(gateway: Gateway) -> None:
    async with client(gateway.port) as stub:
        await stub.stop()
        await stub.start()
        events: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

        async def read() -> None:
            async for item in PuppetStub(stub.channel).event():
                await events.put((int(item.type), item.payload))

        reader = asyncio.create_task(read())
        try:
            assert (await asyncio.wait_for(events.get(), 2))[0] == EVENT_LOGIN
            assert (await asyncio.wait_for(events.get(), 2))[0] == EVENT_READY
            await stub.ding(data="ping")
            assert await asyncio.wait_for(events.get(), 2) == (EVENT_DONG, '{"data": "ping"}')
            msg_id = await gateway.inject_text("u1", "你好", room_id="r1@chatroom")
            assert (await asyncio.wait_for(events.get(), 2))[0] == EVENT_MESSAGE
            payload = await stub.message_payload(id=msg_id)
            assert (payload.text, payload.type, payload.room_id) == ("你好", 7, "r1@chatroom")
            gateway.end_streams()
            await asyncio.wait_for(reader, 2)  # a clean end of the stream
        finally:
            reader.cancel()


async def test_unsimulated_rpcs_answer_empty(gateway: Gateway) -> None:
    async with client(gateway.port) as stub:
        assert (await stub.room_qr_code()).qrcode == ""
        assert (await stub.tag_contact_list()).ids == []
        assert (await stub.version()).version == "linggong-gateway"
        assert [r async for r in stub.message_file_stream(id="x")] == []


async def test_sends_are_checked_and_recorded(gateway: Gateway) -> None:
    queue = gateway.subscribe_sent()
    async with client(gateway.port) as stub:
        sent = await stub.message_send_text(
            conversation_id="r1@chatroom", text="@三哥\u2005你好", mentonal_ids=["u1"]
        )
        record = await asyncio.wait_for(queue.get(), 2)
        assert (record.message_id, record.room_id, record.mention_ids) == (
            sent.id,
            "r1@chatroom",
            ("u1",),
        )
        for target, status in (("u2", Status.FAILED_PRECONDITION), ("nobody", Status.NOT_FOUND)):
            with pytest.raises(GRPCError) as refused:
                await stub.message_send_text(conversation_id=target, text="hi")
            assert refused.value.status == status
    assert len(gateway.sent) == 1
    with pytest.raises(ValueError):
        await gateway.inject_text("u2", "not a member", room_id="r1@chatroom")


async def test_serve_forever_listens_until_cancelled() -> None:
    gw = Gateway(World.from_dict(WORLD))
    await gw.start()
    port = gw.port
    await gw.stop()  # a free port we know
    server = asyncio.create_task(serve_forever(World.from_dict(WORLD), "127.0.0.1", port))
    try:
        for _ in range(50):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.02)
        async with client(port) as stub:
            assert (await stub.room_list()).ids == ["r1@chatroom"]
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
