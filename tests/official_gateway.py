"""The official Wechaty gateway (deploy/gateway: PuppetServer over wechaty-puppet-mock) as a
process the tests start, kill and restart, with its mock world driven over the control port.

Nothing here is the project's own gateway: the server, its authorisation, its event stream and
the mock puppet are the npm packages the station runs.  Without node or without
``npm ci`` in deploy/gateway the tests that need it are skipped, and fail under CI=true.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot.gateway.world import World

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_DIR = ROOT / "deploy" / "gateway"
TOKEN = "insecure_linggong-test"
# python-wechaty's message-type numbers (wechaty-puppet 1.x): the mock sends them as they are.
AUDIO, IMAGE, TEXT, RECALLED = 2, 6, 7, 13


def require_gateway() -> None:
    """Skip (or, under CI=true, fail) when the official gateway cannot run here."""
    why = None
    if shutil.which("node") is None:
        why = "node is not installed"
    elif not (GATEWAY_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        why = "deploy/gateway has no node_modules: run `npm ci` there"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the official gateway tests cannot run under CI: {why}")
        pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OfficialGateway:
    """One ``node gateway.mjs`` process with the mock puppet; restartable on the same port."""

    def __init__(self, world: World, workdir: Path, *, tls: tuple[Path, Path] | None = None,
                 needs_scan: bool = False) -> None:
        self.world_file = workdir / "world.json"
        data = {**dataclasses.asdict(world), "needs_scan": needs_scan}  # needs_scan: a QR code first
        self.world_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.log_file = workdir / "gateway.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.control = ""
        self.bot_id = world.bot_id
        self.rooms = {room.topic: room.id for room in world.rooms}

    async def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "LINGGONG_GATEWAY_PUPPET": "mock", "LINGGONG_GATEWAY_ENDPOINT": self.endpoint,
               "LINGGONG_GATEWAY_TOKEN": TOKEN, "LINGGONG_GATEWAY_WORLD": str(self.world_file),
               "LINGGONG_GATEWAY_CONTROL": "0", "WECHATY_LOG": "warn"}
        if self.tls:
            env["LINGGONG_GATEWAY_TLS_CERT"], env["LINGGONG_GATEWAY_TLS_KEY"] = map(str, self.tls)
        log = self.log_file.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            "node", "gateway.mjs", cwd=GATEWAY_DIR, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the gateway exited: {self.log_file.read_text(errors='replace')[-2000:]}")
                log.write(line)
                if line.startswith(b"{"):
                    ready = json.loads(line)
                    self.control = ready["control"]
                    break
        self._drain = asyncio.create_task(self._copy(self.proc.stdout, log))

    @staticmethod
    async def _copy(stream: asyncio.StreamReader, log: Any) -> None:
        while line := await stream.readline():
            log.write(line)
        log.close()

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(sig)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await self._drain

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(f"http://{self.control}{path}", data=data, method=method,
                                         headers={"content-type": "application/json"})

        def go() -> dict[str, Any]:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        return await asyncio.to_thread(go)

    async def say(self, talker: str, text: str, room: str | None = None, **extra: Any) -> str:
        """``talker`` says ``text`` in the group with topic ``room`` (or to the bot); the message id."""
        body: dict[str, Any] = {"talker": talker, "text": text, **extra}
        if room is not None:
            body["room"] = self.rooms[room]
        return (await self.call("POST", "/message", body))["id"]

    async def sent(self, since: int = 0) -> list[dict[str, Any]]:
        """What the bot sent (the mock records every messageSendText), from record ``since``."""
        return (await self.call("GET", f"/sent?since={since}"))["sent"]

    async def state(self) -> dict[str, Any]:
        return await self.call("GET", "/state")
