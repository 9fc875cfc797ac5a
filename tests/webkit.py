"""Helpers for the web tests: a Quart test client around the conversation fixture's App.

``web`` is a ``Web``: ``await web.get(path)`` / ``await web.post(path, form)`` return
(status, text); ``web.csrf`` is the session's CSRF token, read from a page once.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from bot.web import create_web_app
from tests.conftest import Chat

PASSWORD = "xima-2026"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
LOGIN_CODE_RE = re.compile(r"登录验证码：([0-9]{6})")


def url(path: str) -> str:
    """Percent-encode a path with Chinese in it, as a browser does."""
    return quote(path, safe="/?=&%#:+")


class Web:
    def __init__(self, chat: Chat, password: str = PASSWORD) -> None:
        self.chat = chat
        self.app = create_web_app(chat.app, password=password)
        self.client = self.app.test_client()
        self.csrf = ""

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        response = await self.client.get(url(path), **kw)
        text = await response.get_data(as_text=True)
        if m := CSRF_RE.search(text):
            self.csrf = m.group(1)
        return response.status_code, text

    async def response(self, method: str, path: str, **kw: Any):
        return await getattr(self.client, method)(url(path), **kw)

    async def post(self, path: str, form: dict[str, str] | None = None, *, csrf: bool = True,
                   ip: str = "127.0.0.1", **kw: Any) -> tuple[int, str]:
        if csrf and not self.csrf:
            await self.get("/login" if self.app.extensions["linggong"].password else "/order")
        data = dict(form or {})
        if csrf:
            data["csrf"] = self.csrf
        response = await self.client.post(url(path), form=data, scope_base={"client": (ip, 40000)}, **kw)
        return response.status_code, await response.get_data(as_text=True)

    async def post_json(self, path: str, body: dict[str, Any], *, csrf: bool = True,
                        ip: str = "127.0.0.1") -> tuple[int, dict[str, Any]]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        response = await self.client.post(url(path), json=body, headers=headers, scope_base={"client": (ip, 40000)})
        return response.status_code, await response.get_json()

    async def login(self, staff: str = "杨先媚", password: str = PASSWORD) -> tuple[int, str]:
        """Log in as ``staff``: choose the name (and give the password), read the code the bot sent
        to their WeChat, type it in.  Returns the last response (302 when logged in)."""
        await self.get("/login")
        status, text = await self.post("/login", {"staff": staff, "password": password})
        if status != 200:
            return status, text
        code = self.code_sent_to(staff, await self.sent())
        result = await self.post("/login/code", {"code": code})
        if result[0] == 302:
            await self.get("/dash/workers")  # the session (and its CSRF token) is new after a login
        return result

    def code_sent_to(self, staff: str, sent: list) -> str:
        """The login code in the bot's direct message to ``staff``'s bound id."""
        contact = self.app.extensions["linggong"].contact_of(staff)
        (message,) = [m for m in sent if m.contact == contact and "登录验证码" in m.text]
        return LOGIN_CODE_RE.search(message.text).group(1)

    async def sent(self) -> list:
        """Deliver the outbox through the recording transport; what went out since the last call."""
        transport = self.chat.transport
        before = getattr(self, "_seen", 0)
        await self.chat.outbox.flush()
        self._seen = len(transport.sent)
        return transport.sent[before:]


@pytest.fixture
async def web(chat: Chat) -> Web:
    return Web(chat)


GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
NEED = "需要修水管，阳光小区3栋2单元501室，今天上午，电话13908521234"
