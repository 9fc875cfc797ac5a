"""The real day: the bot's jobs and pages on an interleaved city (benchmarks/daycity.py), timed
with their write-lock hold times, and message -> reply latency while they run.

``python -m benchmarks.day --sqlite FILE`` (or ``--pg URL --schema NAME``) runs one backend in
this process and prints one JSON line; ``benchmarks.run`` starts it as a child process, so its
peak RSS is the bot's own (the reset of VmHWM after start-up makes it the peak *during* the
jobs), not the benchmark's.

In the child: the app, its outbox (pacing off, a recording transport) and the web app are wired
on the loaded database, with the clock at 20:00 on the city's last day.  Then:

1. counts: the statements, calls to the database and transactions of one need's intake, one
   winning claim and one delivered reply (storage/stats.py);
2. each scheduled job body once (sweep, next-sweep deadline, the daily tally, its xlsx export,
   the weekly, monthly and yearly rankings, pruning) and each web page once, timed, with the
   longest write transaction it held;
3. message -> reply latency (``app.process`` until the outbox has sent its replies) of a stream of
   needs, dispatches and claims, first quiet, then while a task runs the jobs and pages over
   and over; p50 / p99 of each.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import re
import statistics
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmarks.common import demo_config, percentile
from benchmarks.daycity import day_now
from bot.app import App
from bot.clock import FakeClock
from bot.config import Config
from bot.outbox import Outbox
from bot.prune import prune
from bot.schedule.jobs import next_sweep_deadline, run_report, sweep, write_daily_export
from bot.transport import IncomingMessage, RecordingTransport
from handlers.classifier import build_intake
from handlers.reports import period_bounds

STAFF = "杨先媚"  # grid 1's staff member: dispatches, and is logged in to the dashboard
SEARCH = "/dash/orders?q=%E9%9C%80%E8%A6%81%E5%B8%AE%E5%BF%99%2099"  # q=需要帮忙 99: read to the search's bound
PAGES = ["/dash/orders", SEARCH, "/dash/orders?status=done&before=50000", "/dash/workers", "/dash/stats",
         "/board.json", "/dash/orders/{no}", "qr-order"]


def rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_rss_peak() -> None:
    with suppress(OSError):  # not Linux: the peak then includes start-up
        Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")


class Day:
    def __init__(self, config: Config, repo: Any, cache: Path) -> None:
        self.config, self.repo = config, repo
        self.community = config.communities[0]
        self.clock = FakeClock(day_now(config.tz))
        self.transport = RecordingTransport(clock=self.clock)
        self.send_times: list[float] = []  # perf_counter of each send
        for name in ("send_room", "send_direct"):
            setattr(self.transport, name, self._timing(getattr(self.transport, name)))
        self.outbox = Outbox.for_config(config, repo, self.transport, self.clock)
        self.app = App(config, repo, self.clock, wake=self.outbox.wake, intake=build_intake(config, cache))
        self.serial = 0
        self.csrf = ""
        self.slow: list[tuple[float, float, str, str]] = []
        self.sent_count = 0
        self.ids = {p.name: p.wechat_id for g in self.community.grids for p in g.staff if p.wechat_id}

    def _timing(self, send: Any) -> Any:
        async def timed(*args: Any) -> None:
            await send(*args)
            self.send_times.append(time.perf_counter())
        return timed

    async def start(self) -> None:
        from bot.web import create_web_app

        await self.app.setup()
        await self.outbox.flush()
        async with self.repo.reading() as tx:  # the community's registered workers claim in turn
            self.workers = [w for w in await tx.list_workers(self.community.name) if w.status == "active" and w.bound]
        self.web = create_web_app(self.app, password="")
        self.client = self.web.test_client()
        state = self.web.extensions["linggong"]
        sid = await state.sessions.start(STAFF, state.contact_of(STAFF), "127.0.0.1")
        async with self.client.session_transaction() as session:
            session["sid"] = sid

    def message(self, room: str, sender: str, name: str, text: str) -> IncomingMessage:
        self.serial += 1
        return IncomingMessage(id=f"day-{self.serial}", sender_id=sender, sender_name=name, text=text,
                               at=self.clock.now(), room_id=room, room_topic=room)

    async def exchange(self, message: IncomingMessage) -> float:
        """Seconds from handing ``message`` to the app until its first reply was sent (replies go
        before the jobs' bulk messages; the flush may go on sending those)."""
        start, running = time.perf_counter(), getattr(self, "running", "-")
        first = len(self.send_times)
        await self.app.process(message)
        handled = time.perf_counter()
        await self.outbox.flush()
        took = (self.send_times[first] if len(self.send_times) > first else time.perf_counter()) - start
        heapq.heappush(self.slow, (took, handled - start, running, message.text[:6]))
        if len(self.slow) > 8:
            heapq.heappop(self.slow)
        return took

    async def cycle(self, k: int, advance: bool = True) -> list[float]:
        """A need in grid 1, its dispatch by the staff, a claim by a worker: three exchanges."""
        grid = self.community.grids[0]
        room = grid.groups[0]
        self.sent_count += len(self.transport.sent)
        del self.send_times[:], self.transport.sent[:]  # the recording must not grow the heap either
        before = 0
        times = [await self.exchange(self.message(room, f"wxid_res{k:05d}", f"居民{k}",
                                                  f"家里水管漏水了，需要师傅来修，阳光小区{k % 30 + 1}栋，电话139{k:08d}"))]
        ack = next((m.text for m in self.transport.sent[before:] if "订单号 #" in m.text), "")
        no = found.group(1) if (found := re.search(r"订单号 #(\d+)", ack)) else ""
        if no:
            times.append(await self.exchange(self.message(room, self.ids[STAFF], STAFF, f"派单{no}")))
            worker = self.workers[k % len(self.workers)]
            times.append(await self.exchange(self.message(self.community.market_group, worker.wechat, worker.name,
                                                          f"接{no}")))
        if advance:
            self.clock.advance(20)
        return times

    async def counts(self) -> dict[str, dict[str, int]]:
        stats, grid = self.repo.stats, self.community.grids[0]
        before = stats.snapshot()
        await self.app.process(self.message(grid.groups[0], "wxid_count01", "计数居民", "需要修水管，阳光小区3栋，电话13908521234"))
        intake = stats.since(before)
        before = stats.snapshot()
        await self.outbox.flush()
        reply = stats.since(before)
        orders = await self._open_orders()
        no = max(orders)
        await self.app.process(self.message(grid.groups[0], self.ids[STAFF], STAFF, f"派单{no}"))
        await self.outbox.flush()
        worker = self.community.workers[0]
        before = stats.snapshot()
        await self.app.process(self.message(self.community.market_group, worker.wechat, worker.name, f"接{no}"))
        claim = stats.since(before)
        await self.outbox.flush()
        return {"intake": intake, "claim": claim, "reply_flush": reply}

    async def _open_orders(self) -> list[int]:
        async with self.repo.reading() as tx:
            return [o.no for o in await tx.find_orders(self.community.name, statuses=("posted",), takers=False)]

    async def jobs(self) -> dict[str, Any]:
        """Each job body once: wall seconds and the longest write transaction it held."""
        return {name: await self._timed(body) for name, body in self.bodies().items()}

    def bodies(self) -> dict[str, Any]:
        now, community = self.clock.now(), self.community
        day_start, day_end = period_bounds(now, "day")
        return {
            "sweep": lambda: sweep(self.app, community),
            "next sweep deadline": lambda: next_sweep_deadline(self.app, community),
            "daily tally (20:00)": lambda: run_report(self.app, "daily_tally", community, now, late=False),
            "weekly ranking": lambda: run_report(self.app, "weekly_ranking", community, now),
            "monthly ranking": lambda: run_report(self.app, "monthly_ranking", community, now),
            # due on 1 January: the whole year just ended
            "yearly ranking": lambda: run_report(self.app, "yearly_ranking", community,
                                                 now.replace(year=now.year + 1, month=1, day=1, hour=9)),
            "daily export (xlsx)": lambda: write_daily_export(self.app, community, day_start, day_end),
            "prune (hourly)": lambda: prune(self.app, force=True),
        }

    async def pages(self) -> dict[str, Any]:
        no = max(await self._open_orders() or [1])
        return {page: await self._timed(lambda page=page: self._page(page.format(no=no))) for page in PAGES}

    async def _page(self, path: str) -> None:
        if path == "qr-order":
            self.web.extensions["linggong"].qr_limiter._hits.clear()  # one test client: not a flood of residents
            grid = self.community.grids[1]
            if not self.csrf:  # the token the form page gives the session
                form = await (await self.client.get(f"/order/{quote(self.community.name)}")).get_data(as_text=True)
                self.csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            response = await self.client.post(f"/order/{quote(self.community.name)}", headers={"X-CSRF-Token": self.csrf}, json={
                "grid": grid.name, "description": "厨房水龙头坏了，想找师傅换一个", "address": "阳光小区5栋",
                "time_wish": "尽快", "phone": f"1370852{self.serial % 10000:04d}", "category": "家电水电维修",
                "wechat_name": ""})
            self.serial += 1
        else:
            response = await self.client.get(path)
        body = await response.get_data(as_text=True)
        assert response.status_code < 400, (path, response.status_code, body[:300])

    async def _timed(self, body: Any) -> dict[str, float]:
        async with self.repo.transaction() as tx:  # each report runs again: forget that it ran
            await tx.execute("DELETE FROM job_runs")
        self.repo.stats.longest_hold = 0.0
        start = time.perf_counter()
        await body()
        seconds = time.perf_counter() - start
        await self.outbox.flush()
        return {"seconds": seconds, "hold": self.repo.stats.longest_hold}

    def day_of_jobs(self, minutes: int) -> list[tuple[str, Any]]:
        """The scheduled work of ``minutes`` minutes of a day, in order: the sweep every minute,
        pruning every hour, the 20:00 tally (with its xlsx export) at minute 1200 and the Monday
        ranking at 540 (when the day is that long), and a staff dashboard page every minute
        (cycling through PAGES: the order list refreshes itself every 10 s while it is open)."""
        bodies = self.bodies()
        steps: list[tuple[str, Any]] = []
        for minute in range(minutes):
            steps.append(("sweep", bodies["sweep"]))
            if minute % 60 == 0:
                steps.append(("prune (hourly)", bodies["prune (hourly)"]))
            if minute == min(1200, minutes - 1):
                steps += [("daily tally (20:00)", bodies["daily tally (20:00)"]),
                          ("daily export (xlsx)", bodies["daily export (xlsx)"])]
            if minute == min(540, minutes // 2):
                steps.append(("weekly ranking", bodies["weekly ranking"]))
            page = PAGES[minute % len(PAGES)]
            steps.append((page, lambda page=page: self._page(page.format(no=self.serial))))
            steps.append(("minute", None))
        return steps

    async def latency(self, cycles: int = 0, day_minutes: int = 0) -> dict[str, Any]:
        """Message -> reply times: ``cycles`` cycles alone, or (``day_minutes``) cycles one every
        20 ms for as long as a day of scheduled jobs takes to run beside them.  A ticker task
        measures how long the event loop was kept from running (its longest gaps)."""
        done = asyncio.Event()
        holds: list[float] = []
        gaps: list[tuple[float, str]] = []
        self.running, ran = "-", 0

        async def jobs() -> None:
            nonlocal ran
            try:
                for name, body in self.day_of_jobs(day_minutes):
                    if body is None:
                        self.clock.advance(60)
                        continue
                    self.running = name
                    holds.append((await self._timed(body))["hold"])
                    ran += 1
            finally:
                done.set()

        async def ticker() -> None:  # keeps the 5 longest gaps only: the benchmark must not grow the heap
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                if len(gaps) < 5 or now - last > gaps[0][0]:
                    heapq.heappush(gaps, (now - last, self.running))
                    if len(gaps) > 5:
                        heapq.heappop(gaps)
                last = now

        tasks = [asyncio.create_task(ticker())]
        if day_minutes:
            tasks.append(asyncio.create_task(jobs()))
        times: list[float] = []
        started = time.perf_counter()
        try:
            k = 0
            while (k < cycles) if not day_minutes else not done.is_set():
                times += await self.cycle(self.serial * 7 + k, advance=not day_minutes)
                k += 1
                await asyncio.sleep(0.02 if day_minutes else 0)
        finally:
            done.set()
            await asyncio.gather(*tasks)
        worst = sorted(gaps, reverse=True)[:5]
        slowest = sorted(self.slow, reverse=True)[:8]
        self.slow = []
        return {"p50": percentile(times, 50), "p99": percentile(times, 99), "max": max(times), "n": len(times),
                "seconds": time.perf_counter() - started, "jobs_run": ran, "longest_hold": max(holds, default=0.0),
                "loop_gaps": [(round(g * 1000, 1), name) for g, name in worst],
                "slowest": [(round(a * 1000, 1), round(b * 1000, 1), name, text) for a, b, name, text in slowest]}


async def run(config: Config, repo: Any, cache: Path, cycles: int, minutes: int) -> dict[str, Any]:
    await repo.open()
    try:
        day = Day(config, repo, cache)
        await day.start()
        counts = await day.counts()
        await day.latency(10)  # warm: caches, the model, the reader connection
        reset_rss_peak()
        rss_before = rss_peak_mb()
        jobs = await day.jobs()
        pages = await day.pages()
        quiet = await day.latency(cycles)
        busy = await day.latency(day_minutes=minutes)
        return {"counts": counts, "jobs": jobs, "pages": pages, "quiet": quiet, "busy": busy,
                "rss_start_mb": rss_before, "rss_peak_mb": rss_peak_mb(),
                "sent": day.sent_count + len(day.transport.sent), "median_job_s": statistics.median(j["seconds"] for j in jobs.values())}
    finally:
        await repo.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.day", description=__doc__.split("\n\n")[0])
    p.add_argument("--sqlite", type=Path)
    p.add_argument("--pg")
    p.add_argument("--schema")
    p.add_argument("--cache", type=Path, required=True, help="the intake model's cache folder")
    p.add_argument("--cycles", type=int, default=100, help="need-dispatch-claim cycles timed alone")
    p.add_argument("--minutes", type=int, default=1440, help="minutes of a day of jobs run beside the messages")
    p.add_argument("--export-dir", type=Path, required=True)
    args = p.parse_args(argv)
    config = demo_config()
    from dataclasses import replace

    community = config.communities[0]
    config = replace(config, outbox=replace(config.outbox, min_interval=0.0, per_minute=100_000),
                     flood=replace(config.flood, max_per_minute=100_000),  # a compressed day is no flood
                     dispatch=replace(config.dispatch, max_active_per_worker=100_000),
                     communities=(replace(community, schedule=replace(community.schedule,
                                                                      export_dir=str(args.export_dir))),
                                  *config.communities[1:]))
    if args.sqlite is not None:
        from storage.sqlite import SqliteRepository

        repo: Any = SqliteRepository(str(args.sqlite))
    else:
        from storage.postgres import PostgresRepository

        repo = PostgresRepository(args.pg, server_settings={"search_path": args.schema})
    result = asyncio.run(run(config, repo, args.cache, args.cycles, args.minutes))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
