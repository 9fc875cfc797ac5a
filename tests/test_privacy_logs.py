"""The logs of a real ``linggong run`` hide every labelled secret of the privacy corpora.

``linggong run`` runs as a subprocess at ``LINGGONG_LOG=DEBUG`` (aiosqlite then logs every SQL
statement with its arguments: each resident's message in full) against a gateway the test owns.
Every line of tests/privacy/*.jsonl is posted in a grid group with ``auto = true``; a third of the
orders are taken.  Nothing the process wrote may show a labelled secret.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from bot.config import load_config
from bot.gateway import Gateway, world_from_config
from bot.gateway.world import Contact
from tests.conftest import ROOT
from tests.test_e2e_wechaty import free_port
from tests.test_privacy_corpus import CORPORA, Haystack, ambiguous, leaks, load

RESIDENTS = 60  # each says a handful of lines: nobody is flood-limited


def fast_config(tmp_path: Path, gateway_port: int) -> Path:
    """The demo config with orders dispatched at once and the outbox unpaced."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for old, new in (("auto = false", "auto = true"), ("min_interval = 1.5", "min_interval = 0.0"),
                     ("per_minute = 40", "per_minute = 100000"), ("send_interval = 1 ", "send_interval = 0 "),
                     ("gateway_port = 8788", f"gateway_port = {gateway_port}"), ("port = 8080", f"port = {free_port()}"),
                     ('export_dir = "data/exports"', f'export_dir = "{(tmp_path / "exports").as_posix()}"')):
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_real_run_logs_no_labelled_secret(tmp_path: Path) -> None:
    began = time.monotonic()
    lines = [line for path in CORPORA for line in load(path)]
    config_path = fast_config(tmp_path, free_port())
    config = load_config(config_path)
    gw = Gateway(world_from_config(config))
    await gw.start()
    community = config.communities[0]
    rooms = {r.topic: r.id for r in gw.state.rooms.values()}
    grid_rooms = [rooms[g.groups[0]] for g in community.grids]
    for i in range(RESIDENTS):
        gw.add_contact(Contact(f"wxid_r{i:03d}", f"居民{i}"))
        for room in grid_rooms:
            gw.add_member(room, f"wxid_r{i:03d}")
    log_path = tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LINGGONG_LOG": "DEBUG", "CACHE_DIR": str(tmp_path / "cache"),
           "WECHATY_PUPPET_SERVICE_ENDPOINT": gw.endpoint}
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(config_path), "run", "--db", str(tmp_path / "run.db"),
            stdout=log, stderr=asyncio.subprocess.STDOUT, env=env, cwd=str(tmp_path))
        try:
            async with asyncio.timeout(60):
                while "WeChat ready" not in log_path.read_text(encoding="utf-8", errors="replace"):
                    assert proc.returncode is None, log_path.read_text(encoding="utf-8", errors="replace")
                    await asyncio.sleep(0.05)
            print(f"ready {time.monotonic() - began:.1f} s", file=sys.stderr)
            start = len(gw.sent)
            for i, line in enumerate(lines):
                await gw.inject_text(f"wxid_r{i % RESIDENTS:03d}", line.text, room_id=grid_rooms[i % len(grid_rooms)])
            async with asyncio.timeout(120):  # every need acknowledged in its group
                while sum("订单号" in s.text or "#" in s.text for s in gw.sent[start:]) < 0.7 * len(lines):
                    await asyncio.sleep(0.05)
            print(f"acked {time.monotonic() - began:.1f} s", file=sys.stderr)
            market = rooms[community.market_group]
            for n, worker in zip(range(1, len(lines), 3), community.workers * len(lines)):
                await gw.inject_text(worker.wechat, f"接{n}", room_id=market)
            async with asyncio.timeout(60):
                while not any("接走" in s.text for s in gw.sent[start:]):
                    await asyncio.sleep(0.05)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 30)
            await gw.stop()
    print(f"run and chat {time.monotonic() - began:.1f} s", file=sys.stderr)
    logged = log_path.read_text(encoding="utf-8", errors="replace")
    assert code == 0, logged[-3000:]
    assert "executing" in logged, "aiosqlite's DEBUG lines (the SQL and its arguments) were written"
    hay, common = Haystack(logged), ambiguous(lines)
    problems = [f"line {line.no}: {s!r}" for line in lines for s in leaks(line, hay, common[line.no], context=True)]
    print(f"checked {time.monotonic() - began:.1f} s", file=sys.stderr)
    assert problems == [], "\n".join(problems[:50])
