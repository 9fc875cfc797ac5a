"""The crash test: ``linggong run`` under load, killed with SIGKILL and restarted, then audited.

(About 600 lines: the load, the kills and the audit are one procedure, read top to bottom.)

    python -m benchmarks.crash [--messages 2000] [--kills 5] [--storm 200] [--seed N] [--keep DIR]

``linggong run`` runs as a separate process (``python -m bot --config … run --db …``),
connected through the real wechaty client and gRPC to a local gateway that this process runs
on a free port (``WECHATY_PUPPET_SERVICE_ENDPOINT``), so that messages can be injected as
WeChat messages and every send watched.  A seeded script of mixed messages is pushed through
it: residents post needs in grid groups, staff dispatch them, workers claim (one order gets a
claim storm from ``--storm`` workers registered beforehand with ``linggong workers import``),
takers complete, residents rate or cancel, and anyone asks questions.  At random points the
bot is SIGKILLed, either at a random moment or right after the gateway has taken a send and
before the bot could record it, and started again at once.  The gateway keeps delivering:
messages that arrive while the bot is down, and those a killed bot may not have handled, are
delivered (again) to the next process.

Afterwards the database and the gateway's record are checked (``verify``): every message
handled exactly once, no order duplicated, one winner per claimed order (the storm included),
every order as the script implies, the audit log agreeing with the orders table, every reply
in the outbox sent exactly once and nothing sent that is not in the outbox, and
``PRAGMA integrity_check``.  docs/crash-test.md has a full run's output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    COMMUNITY,
    MARKET,
    BotProcess,
    Database,
    ExtraWorker,
    extra_workers,
    import_workers,
    market_gateway,
    write_config,
)
from bot.config import Config, Person
from bot.gateway import Gateway
from bot.wechat.delivery import body_of
from storage.sqltx import out_message

POLL = 0.005  # seconds between looks at the database while driving
STALL = 10.0  # without re-delivery: seconds without progress after which unhandled messages count as lost


# -- the script ---------------------------------------------------------------------------


@dataclass
class Message:
    id: str
    sender: str  # contact id
    room: str  # group topic
    text: str
    kind: str  # intake | dispatch | claim | complete | rate | cancel | query
    no: int | None = None
    burst: bool = False  # part of the claim storm: injected back to back


@dataclass
class Expected:
    """An order as the script implies it ends up."""

    no: int
    grid: str
    room: str
    resident: str
    text: str
    status: str = "posted"
    taker: str | None = None  # wechat id
    rating: int | None = None
    events: list[str] = field(default_factory=lambda: ["posted"])
    claimers: list[str] = field(default_factory=list)


@dataclass
class Script:
    messages: list[Message]
    orders: dict[int, Expected]
    storm_no: int | None
    storm_start: int | None  # index of the storm's first claim

    def counts(self) -> Counter[str]:
        return Counter(m.kind for m in self.messages)


NEEDS = [
    "厨房水管漏水了，想找个师傅来修", "家里跳闸了，插座没电", "想请人打扫一下卫生，擦玻璃", "要搬家，有一些家具要搬运",
    "门锁坏了要换锁芯", "下水道堵了要疏通", "新买的柜子要组装安装", "老人明天去医院，需要陪诊",
    "空调不制冷了想找人看看", "热水器不出热水",
]
CLAIMS = ["接{}", "接单{}", "抢{}", "{}接", "我接{}", "接单 #{}"]
COMPLETES = ["完成{}", "{}完成", "已完成{}"]
QUERIES = ["查{}", "待接单", "我的订单", "今日统计", "接单王", "本周排行", "帮助"]


def generate(config: Config, extra: list[ExtraWorker], total: int, storm: int, rng: random.Random) -> Script:
    """A script of exactly ``total`` messages whose every effect is known in advance.

    Messages are handled one at a time in the order the gateway delivers them, so the first
    eligible claimer wins and order numbers follow the intakes; the script keeps a model of
    every order and of each worker's open orders (``max_active_per_worker``) to know it."""
    community = config.community(COMMUNITY)
    assert community is not None
    grids = [g for g in community.grids if g.residents]
    market_workers = [w.wechat for w in community.workers] + [w.wechat for w in extra]
    storm_workers = [w.wechat for w in extra[:storm]]
    limit = config.dispatch.max_active_per_worker
    messages: list[Message] = []
    orders: dict[int, Expected] = {}
    active: Counter[str] = Counter()
    by_status: dict[str, list[int]] = defaultdict(list)
    storm_no = storm_start = None
    storm_at = min(int(total * rng.uniform(0.25, 0.55)), total - storm - 2) if storm else -1

    def contact(person: Person) -> str:  # a configured person's contact id in the local gateway's world
        return person.wechat_id or person.name

    def emit(sender: str, room: str, text: str, kind: str, no: int | None = None, burst: bool = False) -> None:
        messages.append(Message(f"ct-{len(messages) + 1:05d}", sender, room, text, kind, no, burst))

    def move(order: Expected, status: str, event: str) -> None:
        by_status[order.status].remove(order.no)
        order.status = status
        order.events.append(event)
        by_status[status].append(order.no)

    def intake() -> Expected:
        grid = rng.choice(grids)
        resident = rng.choice(grid.residents)
        no = len(orders) + 1
        text = (f"发单 {rng.choice(NEEDS)}，阳光小区{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元"
                f"{rng.randint(1, 30)}0{rng.randint(1, 4)}室，电话139{rng.randint(0, 99999999):08d}，编号CT{no:04d}")
        order = orders[no] = Expected(no, grid.name, grid.groups[0], resident, text)
        by_status["posted"].append(no)
        emit(resident, order.room, text, "intake", no)
        return order

    def dispatch(order: Expected) -> None:
        grid = next(g for g in grids if g.name == order.grid)
        reward = f" 报酬{rng.choice([50, 80, 100, 120])}元" if rng.random() < 0.3 else ""
        emit(contact(rng.choice(grid.staff)), order.room, f"派单{order.no}{reward}", "dispatch", order.no)
        move(order, "dispatched", "dispatched")

    def claim(order: Expected, claimers: list[str], burst: bool = False) -> None:
        for who in claimers:
            emit(who, MARKET, rng.choice(CLAIMS).format(order.no), "claim", order.no, burst)
        order.claimers = claimers
        order.taker = claimers[0]
        active[claimers[0]] += 1
        move(order, "taken", "taken")

    while len(messages) < total:
        remaining = total - len(messages)
        if storm and storm_no is None and len(messages) >= storm_at:
            order = intake()
            dispatch(order)
            eligible = [w for w in storm_workers if active[w] < limit]
            first = rng.choice(eligible)
            others = [w for w in storm_workers if w != first]
            rng.shuffle(others)
            storm_no, storm_start = order.no, len(messages)
            claim(order, [first, *others], burst=True)
            continue
        choices: list[tuple[str, float]] = [("query", 1.5)]
        if remaining > (storm + 2 if storm and storm_no is None else 0):
            open_orders = sum(len(by_status[s]) for s in ("posted", "dispatched", "taken"))
            if open_orders < 15:
                choices.append(("intake", 3))
            if by_status["posted"]:
                choices += [("dispatch", 3), ("cancel", 0.25)]
            if by_status["dispatched"]:
                choices.append(("claim", 3))
            if by_status["taken"]:
                choices.append(("complete", 2))
            if any(orders[n].rating is None for n in by_status["done"]):
                choices.append(("rate", 1.5))
        kind = rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        if kind == "intake":
            intake()
        elif kind == "dispatch":
            dispatch(orders[rng.choice(by_status["posted"])])
        elif kind == "cancel":
            order = orders[rng.choice(by_status["posted"])]
            emit(order.resident, order.room, f"取消{order.no}", "cancel", order.no)
            move(order, "cancelled", "cancelled")
        elif kind == "claim":
            order = orders[rng.choice(by_status["dispatched"])]
            eligible = [w for w in market_workers if active[w] < limit]
            first = rng.choice(eligible)
            late = rng.sample([w for w in market_workers if w != first],
                              min(rng.choice([0, 0, 1, 1, 2, 3]), remaining - 1))
            claim(order, [first, *late])
        elif kind == "complete":
            order = orders[rng.choice(by_status["taken"])]
            assert order.taker is not None
            emit(order.taker, MARKET, rng.choice(COMPLETES).format(order.no), "complete", order.no)
            active[order.taker] -= 1
            move(order, "done", "done")
        elif kind == "rate":
            order = orders[rng.choice([n for n in by_status["done"] if orders[n].rating is None])]
            score = rng.choice([2, 3, 4, 5, 5])
            text = f"满意{order.no}" if score == 5 and rng.random() < 0.5 else f"评价{order.no} {score}"
            emit(order.resident, order.room, text, "rate", order.no)
            order.rating = score
            order.events.append("rated")
        else:
            text = rng.choice(QUERIES)
            no = rng.randint(1, len(orders)) if orders else 1
            if rng.random() < 0.5:
                grid = rng.choice(grids)
                sender, room = rng.choice([*grid.residents, *map(contact, grid.staff)]), grid.groups[0]
            else:
                sender, room = rng.choice(market_workers), MARKET
            emit(sender, room, text.format(no), "query", no if "{}" in text else None)
    return Script(messages, orders, storm_no, storm_start)


# -- driving and killing the bot -------------------------------------------------------------


@dataclass
class Kill:
    at: int  # when this many messages have been handled
    mode: str  # "moment": at once; "send": right after the gateway takes the bot's next send
    done_at: int | None = None  # messages handled when the kill happened
    in_storm: bool = False


def kill_plan(rng: random.Random, kills: int, script: Script) -> list[Kill]:
    n = len(script.messages)
    points = [int(n * rng.uniform(0.05, 0.85)) for _ in range(kills)]
    if script.storm_start is not None and kills:
        storm_size = len(script.orders[script.storm_no].claimers) if script.storm_no else 0
        points[0] = script.storm_start + rng.randrange(max(1, storm_size))  # one kill inside the storm
    modes = [("moment", "send")[i % 2] for i in range(kills)]
    rng.shuffle(modes)
    return sorted((Kill(p, m) for p, m in zip(points, modes)), key=lambda k: k.at)


class Driver:
    """Injects the script, kills and restarts the bot as planned, waits for the end."""

    def __init__(self, script: Script, plan: list[Kill], gateway: Gateway, config_path: Path, database: Path,
                 workdir: Path, *, window: int, timeout: float, say: Any = print) -> None:
        self.script, self.plan, self.gw = script, plan, gateway
        self.config_path, self.database, self.workdir = config_path, database, workdir
        self.window, self.deadline, self.say = window, time.monotonic() + timeout, say
        self.rooms = {room.topic: room.id for room in gateway.state.rooms.values()}
        self.bot: BotProcess | None = None
        self.starts = 0
        self.kills: list[Kill] = []
        self.unexpected_exits = 0
        self.db: Database | None = None
        self._expect_death = False
        self._kill_on_send: Kill | None = None
        self.streams_before = 0
        record = gateway.record_bot_text

        def record_then_maybe_kill(conversation_id: str, text: str, mention_ids: tuple[str, ...]) -> str:
            message_id = record(conversation_id, text, mention_ids)
            if self._kill_on_send is not None and self.bot is not None:
                kill, self._kill_on_send = self._kill_on_send, None
                self._kill(kill)  # the send is recorded; the bot never learns that it was
            return message_id

        gateway.record_bot_text = record_then_maybe_kill  # type: ignore[method-assign]

    async def spawn(self) -> None:
        self.streams_before = self.gw.streams_opened
        self.starts += 1
        log = self.workdir / f"bot-{self.starts}.log"
        self.bot = await BotProcess.start(self.config_path, self.database, self.gw.endpoint, self.workdir, log)

    def handled(self) -> int:
        if self.db is None:
            self.db = Database(self.database)
        return int(self.db.value("SELECT COUNT(*) FROM processed"))

    def _kill(self, kill: Kill) -> None:
        assert self.bot is not None
        kill.done_at = self.handled()
        start = self.script.storm_start
        size = len(self.script.orders[self.script.storm_no].claimers) if self.script.storm_no else 0
        kill.in_storm = start is not None and start <= kill.done_at < start + size
        self._expect_death = True
        self.bot.kill()
        self.kills.append(kill)

    async def tend(self) -> int:
        """Restart a dead bot, carry out a kill that is due; return how many messages are handled."""
        self._check_deadline()
        assert self.bot is not None
        if not self.bot.alive:
            code = await self.bot.wait()
            if not self._expect_death:
                self.unexpected_exits += 1
                self.say(f"  ! linggong run ended by itself ({code}); see {self.bot.log.name}")
            self._expect_death = False
            await self.spawn()
        handled = self.handled()
        connected = self.gw.streams_opened > self.streams_before  # this process got as far as the gateway
        if self.plan and handled >= self.plan[0].at and self._kill_on_send is None and connected:
            kill = self.plan.pop(0)
            if kill.mode == "moment":
                self._kill(kill)
            else:
                self._kill_on_send = kill
        return handled

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            tail = self.bot.output()[-4000:] if self.bot else ""
            raise TimeoutError(f"the crash test did not finish in time; the bot's log ends:\n{tail}")

    async def until_handled(self, count: int, *, stall: float | None = None) -> None:
        """Wait until ``count`` messages are handled; with ``stall``, give up once that many seconds
        passed without progress while the bot is connected (messages lost for good)."""
        best, since = -1, time.monotonic()
        while (handled := await self.tend()) < count:
            connected = self.gw.streams_opened > self.streams_before and self.gw.open_streams > 0
            if handled > best or not connected or self.plan:
                best, since = handled, time.monotonic()
            elif stall is not None and time.monotonic() - since > stall:
                self.say(f"  ! {count - handled} messages were never handled; giving up on them")
                return
            await asyncio.sleep(POLL)

    async def run(self) -> None:
        await self.spawn()
        for i, msg in enumerate(self.script.messages):
            if not msg.burst:
                await self.until_handled(i - self.window)
            await self.gw.inject_text(msg.sender, msg.text, room_id=self.rooms[msg.room], msg_id=msg.id)
            if i % 10 == 0:
                await self.tend()
        await self.until_handled(len(self.script.messages), stall=None if self.gw.redeliver else STALL)
        # everything handled (kills still due are made now): wait until nothing is left to
        # send or in doubt, then stop cleanly
        assert self.db is not None
        while True:
            await self.tend()
            pending = self.db.value("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            doubt = self.db.value("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND sending_since IS NOT NULL")
            if pending == 0 and not doubt and not self.plan:
                break
            await asyncio.sleep(POLL)
        assert self.bot is not None
        await self.bot.stop()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


# -- checking ------------------------------------------------------------------------------


def _fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    """An order's status, taker and times as its audit events tell them."""
    state: dict[str, Any] = {"status": None, "taker": None, "rating": None, "created_at": None,
                             "dispatched_at": None, "taken_at": None, "done_at": None, "cancelled_at": None,
                             "rated_at": None}
    for e in events:
        kind, at = e["kind"], e["at"]
        if kind == "posted":
            state.update(status="posted", created_at=at)
        elif kind == "dispatched":
            state.update(status="dispatched", dispatched_at=at)
        elif kind in ("taken", "assigned"):
            name = e["detail"].rsplit(" ", 1)[0] if kind == "taken" else e["detail"]
            state.update(status="taken", taker=name, taken_at=at)
        elif kind in ("released", "redispatched"):
            state.update(status="dispatched", taker=None, taken_at=None, dispatched_at=at)
        elif kind == "done":
            state.update(status="done", done_at=at)
        elif kind == "cancelled":
            state.update(status="cancelled", cancelled_at=at)
        elif kind == "rated":
            state.update(rating=int(e["detail"]), rated_at=at)
    return state


def verify(database: Path, gateway: Gateway, script: Script, *, exactly_once: bool = True
           ) -> tuple[dict[str, Any], list[str]]:
    """Check the database and the gateway's record against the script; return (figures, problems).

    ``exactly_once=False`` is for a gateway that cannot say what it received (like real ones):
    a reply may then arrive twice, but only one that the bot recorded as ``send_unconfirmed``."""
    problems: list[str] = []
    db = Database(database)
    try:
        figures: dict[str, Any] = {"integrity": db.value("PRAGMA integrity_check")}
        if figures["integrity"] != "ok":
            problems.append(f"PRAGMA integrity_check: {figures['integrity']}")

        # every message handled, once
        processed = [r[0] for r in db.rows("SELECT message_id FROM processed")]
        ids = {m.id for m in script.messages}
        figures["messages handled"] = len(ids & set(processed))
        if len(processed) != len(set(processed)):
            problems.append("a message id is recorded as processed twice")
        if missing := ids - set(processed):
            problems.append(f"{len(missing)} messages never handled, e.g. {sorted(missing)[:5]}")

        # orders: one per intake, each as the script implies, and as its audit events tell
        workers = {r["id"]: dict(r) for r in db.rows("SELECT id, name, wechat FROM workers")}
        by_name = {w["name"]: w["wechat"] for w in workers.values()}
        rows = [dict(r) for r in db.rows("SELECT * FROM orders WHERE community = ? ORDER BY no", (COMMUNITY,))]
        figures["orders"] = len(rows)
        per_text = Counter(r["raw_text"] for r in rows)
        if dup := [t for t, n in per_text.items() if n > 1]:
            problems.append(f"{len(dup)} intake messages made more than one order, e.g. {dup[0]!r}")
        if len(rows) != len(script.orders):
            problems.append(f"{len(rows)} orders, expected {len(script.orders)}")
        events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for e in db.rows("SELECT * FROM events WHERE order_id IS NOT NULL ORDER BY id"):
            events[e["order_id"]].append(dict(e))
        figures["audit events"] = sum(len(v) for v in events.values())
        columns = ("status", "rating", "created_at", "dispatched_at", "taken_at", "done_at", "cancelled_at",
                   "rated_at")
        for row in rows:
            want = script.orders.get(row["no"])
            taker = workers[row["taker_id"]]["wechat"] if row["taker_id"] else None
            kinds = [e["kind"] for e in events[row["id"]]]
            if want is None:
                problems.append(f"order #{row['no']} is not in the script")
                continue
            got = (row["raw_text"], row["status"], taker, row["rating"], kinds)
            expected = (want.text, want.status, want.taker, want.rating, want.events)
            if got != expected:
                problems.append(f"order #{row['no']}: (text, status, taker, rating, events) {got} != {expected}")
            told = _fold(events[row["id"]])
            told_taker = by_name.get(told["taker"]) if told["taker"] else None
            if any(told[c] != row[c] for c in columns) or told_taker != taker:
                problems.append(f"order #{row['no']}: the audit log says {told}, the orders table "
                                f"{ {c: row[c] for c in columns} } taker {taker}")

        # one winner per claimed order; the storm in detail
        outbox = [dict(r) for r in db.rows("SELECT * FROM outbox ORDER BY id")]
        winners = Counter(int(m.group(1)) for r in outbox if (m := re.match(r"#(\d+) 被 .* 接走，用时", r["text"])))
        for no, want in script.orders.items():
            taken_events = sum(1 for e in events[_order_id(rows, no)] if e["kind"] == "taken")
            if want.claimers and (taken_events, winners[no]) != (1, 1):
                problems.append(f"order #{no}: {taken_events} taken events, {winners[no]} winner announcements")
        if script.storm_no is not None:
            storm = script.orders[script.storm_no]
            # each late claim is a row; the rows merged into a notice went out with it
            notices = [r for r in outbox if r["text"].startswith(f"#{storm.no} 已被 ") and r["merged_into"] is None]
            late = Counter(m for r in notices for m in json.loads(r["mentions"]))
            figures["claim storm"] = {"order": storm.no, "claims": len(storm.claimers), "winner": storm.taker,
                                      "late notices": len(notices), "late claimers told": len(late)}
            capped = [out_message(r).to_send()[1] for r in notices]
            # at most [dispatch] late_notices notices of at most late_mentions @ each, nobody twice
            # (late claimers after the last notice went out are told nothing more)
            if (not set(late) <= set(storm.claimers[1:]) or any(n != 1 for n in late.values())
                    or not 1 <= len(notices) <= 2 or any(len(m) > 20 for m in capped)):
                problems.append(f"storm #{storm.no}: late claimers told {dict(late)} in {len(notices)} notices "
                                f"of {[len(m) for m in capped]} @, expected some of {len(storm.claimers) - 1} once, "
                                "in at most 2 notices of at most 20 @")
        acks = Counter(int(m.group(1)) for r in outbox if (m := re.match(r"收到您的需求，订单号 #(\d+)", r["text"])))
        if any(n != 1 for n in acks.values()) or len(acks) != len(script.orders):
            problems.append(f"acknowledgements per order: {sorted(Counter(acks.values()).items())}")

        # the outbox against what reached WeChat: every reply once, nothing else
        rooms = {room.topic: room.id for room in gateway.state.rooms.values()}
        statuses = Counter(r["status"] for r in outbox)
        figures["outbox"] = dict(statuses)
        if statuses.keys() - {"sent"}:
            problems.append(f"outbox rows not sent: {dict(statuses)}")

        def key_of_row(r: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
            conversation = rooms[r["room"]] if r["room"] is not None else r["contact"]
            text, mentions = out_message(r).to_send()  # what goes out: capped @, the rest counted
            return conversation, text, mentions

        sent_rows = sorted((r for r in outbox if r["status"] == "sent" and r["merged_into"] is None),
                           key=lambda r: (r["sent_at"], r["id"]))
        want_sent = Counter(key_of_row(r) for r in sent_rows)
        got_sent = Counter((s.conversation_id, body_of(s.text), s.mention_ids) for s in gateway.sent)
        duplicates = sum((got_sent - want_sent).values())
        lost = sum((want_sent - got_sent).values())
        unconfirmed = db.value("SELECT COUNT(*) FROM events WHERE kind = 'send_unconfirmed'")
        figures["sent by the gateway"] = len(gateway.sent)
        figures["sent twice or not in the outbox"] = duplicates
        figures["marked sent but never sent"] = lost
        figures["re-sent unconfirmed (send_unconfirmed events)"] = unconfirmed
        if exactly_once and unconfirmed:
            problems.append(f"{unconfirmed} sends were repeated unconfirmed although the gateway can tell")
        if lost or duplicates > (0 if exactly_once else unconfirmed):
            problems.append(f"gateway vs outbox: {duplicates} extra sends, {lost} sends missing, e.g. "
                            f"{list((got_sent - want_sent) or (want_sent - got_sent))[:2]}")
        order_in = defaultdict(list)
        for r in sent_rows:
            key = key_of_row(r)
            order_in[key[0]].append(key)
        order_out = defaultdict(list)
        for s in gateway.sent:
            order_out[s.conversation_id].append((s.conversation_id, body_of(s.text), s.mention_ids))
        if not duplicates and not lost and (bad := [c for c in order_in if order_in[c] != order_out[c]]):
            problems.append(f"{len(bad)} conversations received their messages in another order than sent")
        return figures, problems
    finally:
        db.close()


def _order_id(rows: list[dict[str, Any]], no: int) -> int:
    return next((r["id"] for r in rows if r["no"] == no), -1)


# -- the whole run ---------------------------------------------------------------------------


@dataclass
class CrashResult:
    seed: int
    figures: dict[str, Any]
    problems: list[str]
    kills: list[Kill]
    seconds: float

    def report(self) -> str:
        lines = [f"seed {self.seed}: {len(self.kills)} kills in {self.seconds:.1f}s"]
        for k in self.kills:
            where = " (in the claim storm)" if k.in_storm else ""
            how = "at a random moment" if k.mode == "moment" else "right after the gateway took a send"
            lines.append(f"  kill after {k.done_at} messages handled, {how}{where}")
        for key, value in self.figures.items():
            lines.append(f"  {key}: {value}")
        lines.append("  problems: none" if not self.problems else "  PROBLEMS:")
        lines += [f"    - {p}" for p in self.problems]
        return "\n".join(lines)


async def run_crash(workdir: Path, *, messages: int = 2000, kills: int = 5, storm: int = 200, seed: int | None = None,
                    window: int = 40, timeout: float = 900.0, find_sent: bool = True, redeliver: bool = True,
                    say: Any = print) -> CrashResult:
    """Run the crash test in ``workdir`` (config, database, logs); see the module docstring.

    ``find_sent=False`` runs the gateway without its FindSent RPC, as a real WeChat gateway:
    replies in doubt are then sent again (at least once), and only those may be repeated.
    ``redeliver=False`` runs it without re-delivering what a killed bot's stream carried, as the
    official gateway: the bot's intake journal alone must recover those messages."""
    seed = random.randrange(2**32) if seed is None else seed
    say(f"crash test: seed {seed}, {messages} messages, {kills} kills, claim storm of {storm}"
        + ("" if find_sent else ", gateway without FindSent (like a real one)")
        + ("" if redeliver else ", gateway without re-delivery (like a real one)"))
    rng = random.Random(seed)
    began = time.monotonic()
    database, config_path = workdir / "crash.db", workdir / "config.toml"
    config = write_config(config_path, database=database)
    workers = extra_workers(max(storm, 1))
    await import_workers(config_path, database, workers, workdir)
    script = generate(config, workers, messages, storm, rng)
    plan = kill_plan(rng, kills, script)
    gateway = market_gateway(config, workers, find_sent_rpc=find_sent, redeliver=redeliver)
    await gateway.start()
    driver = Driver(script, plan, gateway, config_path, database, workdir, window=window, timeout=timeout, say=say)
    try:
        await driver.run()
    finally:
        driver.close()
        if driver.bot is not None and driver.bot.alive:
            driver.bot.kill()
            await driver.bot.wait()
        await gateway.stop()
    figures, problems = verify(database, gateway, script, exactly_once=find_sent)
    if not redeliver:
        problems = _transit_losses(database, gateway, script, figures, problems)
    logs = "".join((workdir / f"bot-{i}.log").read_text(encoding="utf-8", errors="replace")
                   for i in range(1, driver.starts + 1))
    figures = {
        "messages": dict(script.counts()),
        "bot processes": driver.starts,
        "re-delivered by the gateway": gateway.redelivered,
        "events on connections that ended, not re-delivered": gateway.dropped,
        "messages recovered from the intake journal": sum(
            int(m.group(1)) for m in re.finditer(r"(\d+) messages received earlier and not handled", logs)),
        "sends in doubt found delivered (not sent again)": logs.count("had gone out; marked sent"),
        "sends in doubt found not delivered (sent)": logs.count("had not gone out; it will be sent"),
        **figures,
    }
    errors = [line for line in logs.splitlines() if " ERROR " in line or "Traceback" in line]
    if driver.unexpected_exits:
        problems.append(f"linggong run ended by itself {driver.unexpected_exits} times")
    if errors:
        problems.append(f"{len(errors)} error lines in the bot's logs, e.g. {errors[0]}")
    if len(driver.kills) < kills:
        problems.append(f"only {len(driver.kills)} of {kills} kills were made")
    return CrashResult(seed, figures, problems, driver.kills, time.monotonic() - began)


def _transit_losses(database: Path, gateway: Gateway, script: Script, figures: dict[str, Any],
                    problems: list[str]) -> list[str]:
    """Without re-delivery, a message the gateway wrote to a connection in the instant before the
    bot was killed never reached the bot's intake journal: no client can get it back from a
    gateway that delivers once.  Count those as a figure, with how long they had been on their way,
    and leave out the problems they cause downstream (the script assumed they arrived); any other
    unhandled message remains a problem."""
    db = Database(database)
    try:
        processed = {r[0] for r in db.rows("SELECT message_id FROM processed")}
    finally:
        db.close()
    ages = dict(gateway.dropped_events)
    lost = [m for m in script.messages if m.id not in processed]
    transit = [m for m in lost if m.id in ages]
    figures["lost in transit at a kill (never reached the bot)"] = {
        "messages": len(transit), "kinds": dict(Counter(m.kind for m in transit)),
        "longest on its way (ms)": round(1000 * max((ages[m.id] for m in transit), default=0.0), 1),
    }
    affected = {m.no for m in transit if m.no is not None}
    if any(m.kind == "intake" for m in transit):  # later order numbers shift: nothing can be compared
        return [*problems, "an intake message was lost in transit: the script's order numbers no longer apply"]
    transit_ids = {m.id for m in transit}
    kept = []
    for p in problems:
        if "never handled" in p:
            others = [m for m in lost if m.id not in transit_ids]
            if others:
                kept.append(f"{len(others)} messages never handled (not lost in transit), e.g. {others[0].id}")
        elif not any(re.search(rf"#{no}\b", p) for no in affected):
            kept.append(p)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crash", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--storm", type=int, default=200, help="workers in the claim storm (registered first)")
    parser.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (database, logs)")
    parser.add_argument("--no-find-sent", action="store_true",
                        help="run the gateway without its FindSent RPC, like a real WeChat gateway: "
                             "replies in doubt are sent again and may arrive twice")
    parser.add_argument("--no-redeliver", action="store_true",
                        help="run the gateway without re-delivering what a killed bot's stream carried, like the "
                             "official gateway: only the bot's intake journal can recover those messages")
    args = parser.parse_args(argv)

    async def go(workdir: Path) -> CrashResult:
        return await run_crash(workdir, messages=args.messages, kills=args.kills, storm=args.storm, seed=args.seed,
                               find_sent=not args.no_find_sent, redeliver=not args.no_redeliver)

    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(go(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="linggong-crash-") as tmp:
            result = asyncio.run(go(Path(tmp)))
    print(result.report())
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
