"""Two ``linggong run`` processes, two WeChat accounts, one PostgreSQL.

Each process is the real command (``python -m bot run --db postgresql://…``) connected through
wechaty and gRPC to its own local gateway, which this test process runs, so it can speak as
anyone in either account's groups and watch what each account sends.  Both accounts are in
every group of the demo config, as two bot accounts of one district would be:

- a message said in a group reaches both accounts, with the same message id (``say``); a
  message may also reach only one of them (``to=``);
- what one bot says in a group reaches the other account as a message from a group member
  (the relay), which the other instance must not take for a resident's words.

Each test gets a fresh schema (``?search_path=`` on the URL).  Waits are on conditions with
timeouts, never fixed sleeps.  Runs only with ``$LINGGONG_TEST_PG_URL`` (skipped otherwise,
failed under CI=true; see tests/test_storage.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.common import late_answered
from bot.config import load_config
from bot.gateway import Contact, Gateway, SentRecord, world_from_config
from storage.postgres import PostgresRepository
from tests.conftest import wid
from tests.test_storage import pg_schema, pg_url, worker_values  # noqa: F401  (pg_url: fixture)

ROOT = Path(__file__).resolve().parent.parent
GRID1 = "洗马社区第一网格群"
MARKET = "洗马社区零工市场群"
MAOCAO_MARKET = "茅草西社区零工市场群"
NEED = "我家厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234"
LEASE = 6.0  # [outbox].lease of both instances: a dead one's claim runs out after this
TIMEOUT = 20.0
BOTS = {"A": "wxid_linggong_a", "B": "wxid_linggong_b"}


def fast_config_text(tally_at: datetime | None = None) -> str:
    """The demo config.toml, fast for tests; the daily tally at ``tally_at`` (a crontab minute)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    replacements = {
        'min_interval = 1.5': 'min_interval = 0.02',
        'per_minute = 40': 'per_minute = 100000',
        'lease = 120': f'lease = {LEASE}',
        'orphan_after = 30': 'orphan_after = 5',
        'send_interval = 1 ': 'send_interval = 0 ',
        'port = 8080': 'port = 0',  # two processes on one machine: each its own free web port
        'max_per_minute = 20 ': 'max_per_minute = 100000 ',  # load from few senders is not a flood here
    }
    if tally_at is not None:
        replacements['daily_tally = "0 20 * * *"'] = f'daily_tally = "{tally_at.minute} {tally_at.hour} * * *"'
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


class Process:
    """A ``linggong run`` subprocess; its log is read continuously (a full pipe would block it)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name, self.proc = name, proc
        self.lines: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace"))

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        try:
            await until(lambda: text in self.log or self.proc.returncode is not None, timeout)
        except TimeoutError:
            raise AssertionError(f"instance {self.name}: no {text!r} within {timeout}s:\n{self.log}") from None
        assert text in self.log, f"instance {self.name} ended before {text!r}:\n{self.log}"

    def kill(self) -> None:
        """SIGKILL: no goodbye, no cleanup; its claims stay until their leases run out."""
        self.proc.kill()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 15.0)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await asyncio.wait_for(self.reader, 5.0)


async def until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def until_async(predicate: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


class District:
    """One schema, two gateways (accounts A and B in every group), and the ``linggong run`` processes."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.tmp, self.url = tmp_path, url
        self.config = load_config(ROOT / "config.toml")
        self.gateways: dict[str, Gateway] = {}
        for name, bot_id in BOTS.items():
            world = world_from_config(self.config, bot_id=bot_id)
            for other_name, other in BOTS.items():  # the other account is a member of every group
                if other_name != name:
                    world.contacts.append(Contact(other, self.config.bot.name))
                    for room in world.rooms:
                        room.member_ids.append(other)
            self.gateways[name] = Gateway(world)
        self.rooms = {room.topic: room.id for room in world.rooms}  # the same ids in both worlds
        self.processes: dict[str, Process] = {}
        self._relays: list[asyncio.Task[None]] = []
        self._ids = iter(range(1, 1_000_000))

    async def start_gateways(self) -> None:
        for name, gateway in self.gateways.items():
            await gateway.start()
            other = next(g for n, g in self.gateways.items() if n != name)
            self._relays.append(asyncio.create_task(self._relay(BOTS[name], gateway, other)))

    async def _relay(self, bot_id: str, source: Gateway, target: Gateway) -> None:
        """What one account says in a group, the other account sees there."""
        queue = source.subscribe_sent()
        while True:
            record = await queue.get()
            if record.room_id:
                await target.inject_text(bot_id, record.text, room_id=record.room_id,
                                         mention_ids=record.mention_ids, msg_id=f"relay-{record.message_id}")

    def write_config(self, tally_at: datetime | None = None) -> Path:
        path = self.tmp / "config.toml"
        path.write_text(fast_config_text(tally_at).replace(
            'export_dir = "data/exports"', f'export_dir = "{self.tmp / "exports"}"'), encoding="utf-8")
        return path

    async def run(self, *names: str, config: Path | None = None) -> None:
        """Start ``linggong run`` for the named accounts, each on its own gateway; wait until ready."""
        config = config or self.write_config()
        for name in names:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "CACHE_DIR": str(self.tmp / f"cache-{name}"),
                   "WECHATY_PUPPET_SERVICE_ENDPOINT": self.gateways[name].endpoint, "LINGGONG_INSTANCE": name}
            env.pop("LINGGONG_DATABASE", None)
            env.pop("LINGGONG_COMMUNITIES", None)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(config), "run", "--db", self.url,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=self.tmp)
            self.processes[name] = Process(name, proc)
        for name in names:
            await self.processes[name].wait_for("WeChat ready")
            await self.processes[name].wait_for(f"instance {name} serves 洗马社区, 茅草西社区")

    async def say(self, who: str, room: str, text: str, *, to: Iterable[str] = ("A", "B")) -> str:
        """``who`` says ``text`` in ``room``; it reaches the accounts in ``to`` with one message id."""
        msg_id = f"wx-{next(self._ids)}"
        for name in to:
            await self.gateways[name].inject_text(wid(who), text, room_id=self.rooms[room], msg_id=msg_id)
        return msg_id

    def sent(self, *names: str) -> list[SentRecord]:
        return [r for name in (names or self.gateways) for r in self.gateways[name].sent]

    def said_in(self, room: str, contains: str, *names: str) -> list[SentRecord]:
        return [r for r in self.sent(*names) if r.room_id == self.rooms[room] and contains in r.text]

    async def fetch(self, sql: str, *args: object) -> list[dict]:
        repo = PostgresRepository(self.url, min_size=1, max_size=1)
        await repo.open()
        try:
            async with repo.transaction() as tx:
                return await tx.fetch_all(sql, args)
        finally:
            await repo.close()

    async def wait_db(self, sql: str, predicate: Callable[[list[dict]], bool], timeout: float = TIMEOUT) -> list[dict]:
        """Poll ``sql`` until ``predicate`` holds for its rows."""
        repo = PostgresRepository(self.url, min_size=1, max_size=1)
        await repo.open()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    async with repo.transaction() as tx:
                        rows = await tx.fetch_all(sql)
                    if predicate(rows):
                        return rows
                    await asyncio.sleep(0.05)
        finally:
            await repo.close()

    async def outbox_drained(self, timeout: float = TIMEOUT) -> None:
        await self.wait_db("SELECT id FROM outbox WHERE status = 'pending'", lambda rows: not rows, timeout)

    async def close(self) -> None:
        for process in self.processes.values():
            await process.stop()
        for relay in self._relays:
            relay.cancel()
        for gateway in self.gateways.values():
            gateway.release_sends()  # held sends of live clients only; a dead client's never arrive
            await gateway.stop()

    def logs(self) -> str:
        return "\n".join(f"--- instance {n} ---\n{p.log}" for n, p in self.processes.items())


@pytest.fixture
async def district(pg_url: str, tmp_path: Path) -> AsyncIterator[District]:
    async with pg_schema(pg_url) as settings:
        url = pg_url + ("&" if "?" in pg_url else "?") + f"search_path={settings['search_path']}"
        d = District(tmp_path, url)
        await d.start_gateways()
        try:
            yield d
        finally:
            await d.close()
        for name, process in d.processes.items():
            assert "Traceback" not in process.log, d.logs()
            assert "13908521234" not in process.log  # phones are masked in the logs


async def add_workers(district: District, count: int) -> list[str]:
    """Register ``count`` active workers of 洗马社区, members of its market group in both accounts."""
    wechat_ids = [f"w{i:03d}" for i in range(count)]
    repo = PostgresRepository(district.url)
    await repo.open()
    async with repo.transaction() as tx:
        for wechat in wechat_ids:
            await tx.add_worker(worker_values(f"师傅{wechat}", wechat=wechat, skills=()))
    await repo.close()
    for gateway in district.gateways.values():
        for wechat in wechat_ids:
            gateway.add_contact(Contact(wechat, f"师傅{wechat}"))
            gateway.add_member(district.rooms[MARKET], wechat)
    return wechat_ids


async def seed_first_start(district: District, at: datetime) -> None:
    """The deployment has been running since ``at`` (reports due after it are caught up on)."""
    repo = PostgresRepository(district.url)
    await repo.open()
    async with repo.transaction() as tx:
        await tx.set_meta("first_start", str(at.timestamp()))
    await repo.close()


async def test_300_claims_through_both_instances_make_one_taker(district: District) -> None:
    began = time.monotonic()
    workers = await add_workers(district, 300)
    await district.run("A", "B")
    started = time.monotonic() - began
    await district.say("张阿姨", GRID1, NEED)
    await until(lambda: len(district.said_in(GRID1, "#1")) == 1)
    await district.say("杨先媚", GRID1, "派单1")
    await until(lambda: len(district.said_in(MARKET, "【派单 #1】")) == 1)

    # 300 workers answer at once; most claims reach both accounts, some only one of them
    storm = time.monotonic()
    routes = [("A", "B"), ("A",), ("B",)]
    await asyncio.gather(*(district.say(w, MARKET, "接1", to=routes[i % 3]) for i, w in enumerate(workers)))
    async def handled_all() -> bool:
        return (await district.fetch("SELECT COUNT(*) AS n FROM processed WHERE message_id LIKE 'wx-%'"))[0]["n"] >= 302

    await until_async(handled_all, 30.0)
    await until(lambda: len(district.said_in(MARKET, "接走，用时")) >= 1 and district.said_in(MARKET, "已被"), 30.0)
    handled = time.monotonic() - storm
    await district.outbox_drained()

    winners = district.said_in(MARKET, "接走，用时")
    assert len(winners) == 1, district.logs()
    (winner,) = winners[0].mention_ids
    # the late claimers: at most 2 notices, at most 20 @ in each, the rest counted, nobody twice
    notices = district.said_in(MARKET, "已被")
    mentioned = [m for r in notices for m in r.mention_ids]
    assert 1 <= len(notices) <= 2 and all(len(r.mention_ids) <= 20 for r in notices)
    assert len(mentioned) == len(set(mentioned)) and set(mentioned) <= set(workers) - {winner}
    assert sum(late_answered(r.text, tuple(r.mention_ids)) for r in notices) <= 299
    rows = await district.fetch("SELECT o.status, w.wechat FROM orders o JOIN workers w ON w.id = o.taker_id")
    assert rows == [{"status": "taken", "wechat": winner}]
    taken = await district.fetch("SELECT COUNT(*) AS n FROM events WHERE kind = 'taken'")
    processed = await district.fetch("SELECT COUNT(*) AS n FROM processed WHERE message_id LIKE 'wx-%'")
    assert taken[0]["n"] == 1 and processed[0]["n"] == 302  # each message handled once, by one instance
    assert len([r for r in district.sent() if r.contact_id == winner]) == 1  # the details, once
    # each account saw the other's messages in the groups, and they changed nothing
    relayed = [m for g in district.gateways.values() for m in g.state.messages if m.startswith("relay-")]
    assert len(relayed) >= 5  # how many depends on how many late notices merged in the outbox
    assert await district.fetch("SELECT message_id FROM processed WHERE message_id LIKE 'relay-%'") == []
    assert [r["n"] for r in await district.fetch("SELECT COUNT(*) AS n FROM orders")] == [1]
    print(f"\ntwo instances ready in {started:.2f}s; 300 claims handled and answered in {handled:.2f}s "
          f"({len(district.sent('A'))} sends through A, {len(district.sent('B'))} through B)")


async def test_intake_on_both_numbers_orders_without_gaps_or_duplicates(district: District) -> None:
    await district.run("A", "B")
    residents = ["张阿姨", "李大爷", "陈奶奶"]
    routes = [("A",), ("B",), ("A", "B")]
    needs = [f"需要修水管，第{i}号，阳光小区{i}栋，电话1390852{i:04d}" for i in range(60)]
    await asyncio.gather(*(district.say(residents[i % 3], GRID1, need, to=routes[i % 3])
                           for i, need in enumerate(needs)))
    rows = await district.wait_db("SELECT no, raw_text FROM orders ORDER BY no", lambda rows: len(rows) >= 60)
    await district.outbox_drained()
    assert [r["no"] for r in rows] == list(range(1, 61))
    assert sorted(r["raw_text"] for r in rows) == sorted(needs)
    acks = [int(m.group(1)) for r in district.said_in(GRID1, "订单号") if (m := re.search(r"#(\d+)", r.text))]
    assert sorted(acks) == list(range(1, 61))  # every number acknowledged once
    assert {r.conversation_id for r in district.sent("A")} and {r.conversation_id for r in district.sent("B")}


async def test_a_tally_due_on_both_instances_is_posted_once(district: District) -> None:
    now = datetime.now(district.config.tz)
    due = now - timedelta(minutes=1)  # both start just after it: the catch-up posts it
    await seed_first_start(district, now - timedelta(hours=1))
    await district.run("A", "B", config=district.write_config(tally_at=due))
    runs = await district.wait_db("SELECT community, period FROM job_runs WHERE job = 'daily_tally'",
                                  lambda rows: len(rows) == 2)
    await until(lambda: district.said_in(MARKET, "接单统计") and district.said_in(MAOCAO_MARKET, "接单统计"))
    await district.outbox_drained()
    assert sorted(r["community"] for r in runs) == ["洗马社区", "茅草西社区"]
    assert len(district.said_in(MARKET, "接单统计")) == 1, district.logs()
    assert len(district.said_in(MAOCAO_MARKET, "接单统计")) == 1
    for name in ("A", "B"):  # both instances tried; one posted, the other found it claimed
        await district.processes[name].wait_for("daily_tally for 洗马社区")
    lines = [line for line in district.logs().splitlines() if "daily_tally for 洗马社区" in line]
    assert len(lines) == 2 and sum("posted" in line for line in lines) == 1, lines


async def test_a_killed_instance_s_due_jobs_and_pending_messages_are_taken_over(district: District) -> None:
    now = datetime.now(district.config.tz)
    await seed_first_start(district, now - timedelta(hours=1))
    for gateway in district.gateways.values():
        gateway.hold_sends()  # WeChat accepts nothing yet: each instance gets stuck in its first send
    await district.run("A", "B", config=district.write_config(tally_at=now - timedelta(minutes=1)))
    await district.wait_db("SELECT 1 FROM job_runs WHERE job = 'daily_tally'", lambda rows: len(rows) == 2)
    for gateway in district.gateways.values():
        await gateway.wait_for_held_sends(1, timeout=TIMEOUT)  # the two tallies, one claimed by each
    await district.say("张阿姨", GRID1, NEED, to=("A",))  # intake on A; both senders are busy
    await district.wait_db("SELECT 1 FROM outbox WHERE text LIKE '%#1%'", lambda rows: len(rows) == 1)
    claims = await district.fetch("SELECT claimed_by, text FROM outbox WHERE claimed_until IS NOT NULL")
    assert sorted(c["claimed_by"].split("/")[0] for c in claims) == ["A", "B"], claims

    district.processes["A"].kill()  # SIGKILL, holding a claim on a tally WeChat never accepted
    killed = time.monotonic()
    district.gateways["B"].release_sends()
    await until(lambda: len(district.said_in(MARKET, "接单统计")) == 1
                and len(district.said_in(MAOCAO_MARKET, "接单统计")) == 1
                and len(district.said_in(GRID1, "#1")) == 1, LEASE + 10)
    taken_over = time.monotonic() - killed
    await district.outbox_drained()
    assert district.sent("A") == []  # nothing reached WeChat through the dead instance
    assert len(district.said_in(MARKET, "接单统计", "B")) == len(district.said_in(MAOCAO_MARKET, "接单统计", "B")) == 1
    assert len(district.said_in(GRID1, "#1", "B")) == 1
    sent = await district.fetch("SELECT claimed_by FROM outbox WHERE status = 'sent'")
    assert {r["claimed_by"].split("/")[0] for r in sent} == {"B"}
    # each community's tally ran once (other jobs, e.g. Monday 09:00's weekly ranking, may fall due in real time)
    assert [r["n"] for r in await district.fetch("SELECT COUNT(*) AS n FROM job_runs WHERE job = 'daily_tally'")] == [2]
    print(f"\nthe survivor delivered the dead instance's claimed tally and pending reply {taken_over:.2f}s "
          f"after the SIGKILL (lease {LEASE:.0f}s)")
