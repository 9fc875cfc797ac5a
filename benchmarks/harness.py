"""What the crash test and the end-to-end benchmarks share: ``linggong run`` as a separate
process, connected through the real wechaty client to a local gateway that this process runs,
so that messages can be injected and every send watched.

- :func:`write_config` writes a config.toml for the run (the project's own, with fast pacing);
- :func:`import_workers` registers extra workers with ``linggong workers import`` (a CSV);
- :func:`market_gateway` builds the gateway world from that config, with the extra workers in
  the market group;
- :class:`BotProcess` starts ``python -m bot --config … run --db …`` with
  ``WECHATY_PUPPET_SERVICE_ENDPOINT``/``_TOKEN`` pointing at the gateway, logs to a file,
  and can be killed (SIGKILL), stopped (SIGTERM) and measured (/proc/<pid>/status).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sqlite3
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import PROJECT_ROOT, Config, load_config
from bot.gateway import Contact, Gateway, world_from_config

COMMUNITY = "洗马社区"
MARKET = "洗马社区零工市场群"  # the demo market group
NEVER = "0 3 29 2 *"  # 03:00 on 29 February: the periodic reports stay out of the way
TOKEN = "linggong-local"


def toml_text(data: dict[str, Any]) -> str:
    """A TOML document for ``data`` (tables, arrays of tables, strings, numbers, booleans, lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} as TOML")

    lines: list[str] = []

    def table(d: dict[str, Any], path: str) -> None:
        for k, v in d.items():
            if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v)):
                lines.append(f"{json.dumps(k, ensure_ascii=False)} = {value(v)}")
        for k, v in d.items():
            key = f"{path}.{json.dumps(k, ensure_ascii=False)}" if path else json.dumps(k, ensure_ascii=False)
            if isinstance(v, dict):
                lines.append(f"\n[{key}]")
                table(v, key)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for item in v:
                    lines.append(f"\n[[{key}]]")
                    table(item, key)

    table(data, "")
    return "\n".join(lines) + "\n"


def write_config(path: Path, *, database: Path, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """The project's config.toml with pacing off (``[outbox]`` interval 0, no per-minute cap that
    matters, ``[wechat].send_interval`` 0) and the periodic reports out of the way; returns it loaded."""
    data = tomllib.loads((PROJECT_ROOT / "config.toml").read_text(encoding="utf-8"))
    data["bot"]["database"] = str(database)
    data["outbox"].update(min_interval=0.0, per_minute=1_000_000)
    data["wechat"].update(endpoint="", send_interval=0.0, watchdog_deadline=30.0)
    data.setdefault("web", {}).update(port=0)  # the bot's pages on a free port: runs never collide on 8080
    data.setdefault("flood", {}).update(max_per_minute=1_000_000)  # load runs send far faster than a person
    data.setdefault("schedule", {}).update(
        daily_tally=NEVER, weekly_ranking=NEVER, monthly_ranking=NEVER, yearly_ranking=NEVER)
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    path.write_text(toml_text(data), encoding="utf-8")
    return load_config(path)


@dataclass(frozen=True)
class ExtraWorker:
    name: str
    wechat: str
    phone: str


def extra_workers(count: int, prefix: str = "压测师傅") -> list[ExtraWorker]:
    return [ExtraWorker(f"{prefix}{i:03d}", f"wxid_storm{i:03d}", f"139{i:08d}") for i in range(1, count + 1)]


async def run_cli(config_path: Path, *args: str, cwd: Path) -> str:
    """Run ``python -m bot --config CONFIG ARGS…``; return its output; raise if it fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config_path), *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=bot_env())
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"linggong {' '.join(args)} failed ({proc.returncode}):\n{text}")
    return text


async def import_workers(config_path: Path, database: Path, workers: Iterable[ExtraWorker], workdir: Path) -> str:
    """Register ``workers`` with ``linggong workers import`` (active, every one a 水电 worker)."""
    from bot.sheets.roster import COLUMNS

    roster = workdir / "roster.csv"
    with roster.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for w in workers:
            writer.writerow([w.name, w.wechat, w.phone, "家电水电维修", "压测队", "2026-03-01", "已登记"])
    return await run_cli(config_path, "workers", "import", str(roster), "--db", str(database), cwd=workdir)


def market_gateway(config: Config, workers: Iterable[ExtraWorker] = (), **options: Any) -> Gateway:
    """A local gateway (free port) for ``config``'s world, ``workers`` added to the market group."""
    world = world_from_config(config)
    gateway = Gateway(world, **options)
    market = next(r.id for r in world.rooms if r.topic == MARKET)
    for w in workers:
        gateway.add_contact(Contact(w.wechat, w.name))
        gateway.add_member(market, w.wechat)
    return gateway


def bot_env(endpoint: str | None = None, cache_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHATY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    if endpoint:
        env["WECHATY_PUPPET_SERVICE_ENDPOINT"] = endpoint
        env["WECHATY_PUPPET_SERVICE_TOKEN"] = TOKEN
    if cache_dir:
        env["CACHE_DIR"] = str(cache_dir)
    return env


class BotProcess:
    """One ``linggong run`` process connected to ``endpoint``; its output goes to ``log``."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    @classmethod
    async def start(cls, config_path: Path, database: Path, endpoint: str, workdir: Path, log: Path) -> BotProcess:
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(config_path), "run", "--db", str(database),
                cwd=workdir, stdout=out, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL,
                env=bot_env(endpoint, workdir / "wechaty-cache"))
        return cls(proc, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def wait_for_log(self, text: str, timeout: float = 30.0, poll: float = 0.02) -> None:
        async with asyncio.timeout(timeout):
            while text not in self.output():
                if not self.alive:
                    raise RuntimeError(f"linggong run ended ({self.proc.returncode}) before {text!r}:\n"
                                       + self.output()[-3000:])
                await asyncio.sleep(poll)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no shutdown code."""
        if self.alive:
            with _no_such_process():
                os.kill(self.pid, signal.SIGKILL)

    async def wait(self, timeout: float = 30.0) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (linggong run's clean stop) and wait; SIGKILL if it does not end in time."""
        if self.alive:
            with _no_such_process():
                self.proc.send_signal(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except TimeoutError:
            self.kill()
            return await self.wait()

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) in kB, from /proc/<pid>/status."""
        fields = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(rest.split()[0])
        return fields


class _no_such_process:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, *_: object) -> bool:
        return kind is ProcessLookupError


class Database:
    """Read-only looks into the bot's SQLite file while it runs (WAL: readers never block it)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0, isolation_level=None)
        self.db.row_factory = sqlite3.Row

    def value(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        row = self.db.execute(sql, args).fetchone()
        return row[0] if row is not None else None

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def close(self) -> None:
        self.db.close()
