"""End-to-end figures of ``linggong run``: message-to-reply latency and memory.

    python -m benchmarks.e2e [-n 200] [--storm 500]

- :func:`e2e_latency`: a resident posts a need in a grid group of the local gateway; the time
  until the gateway records the bot's acknowledgement.  The path is the production one:
  gateway event → gRPC → the wechaty client in ``linggong run`` → ``App.process`` (one SQLite
  transaction, WAL, synchronous=FULL) → outbox → gRPC ``MessageSendText`` → gateway.  Pacing
  is off (``[outbox].min_interval`` 0, ``[wechat].send_interval`` 0); one message at a time.
  By default the bot is a separate ``linggong run`` process (2 processes, as deployed);
  ``in_process=True`` runs it in this process next to the gateway (the end-to-end tests' set-up).
- :func:`run_memory`: peak RSS (``VmHWM``) and RSS of a ``linggong run`` process idle for a few
  seconds after it is ready, then under a claim storm of 500 registered workers on one order.

The functions are what ``benchmarks/run.py`` calls; this module's ``main`` prints them alone.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    MARKET,
    BotProcess,
    Database,
    extra_workers,
    import_workers,
    market_gateway,
    write_config,
)
from bot.gateway import Gateway

GRID1 = "洗马社区第一网格群"
RESIDENT = "张阿姨"
STAFF = "wxid_yangxianmei"  # 杨先媚, as config.toml binds her: people are their WeChat ids
TARGET_P50_MS = 30.0
TARGET_IDLE_MB = 120.0


def _need(i: int) -> str:
    return f"发单 厨房水管漏水了，想找个师傅来修，阳光小区3栋2单元501室，电话13908521234，第{i}次"


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


async def _latencies(gateway: Gateway, n: int, warmup: int) -> list[float]:
    room = next(r.id for r in gateway.state.rooms.values() if r.topic == GRID1)
    samples: list[float] = []
    for i in range(warmup + n):
        start = len(gateway.sent)
        began = time.perf_counter()
        await gateway.inject_text(RESIDENT, _need(i), room_id=room)
        await gateway.wait_for_sent(lambda r: r.room_id == room, start=start, timeout=10.0)
        if i >= warmup:
            samples.append(time.perf_counter() - began)
    return samples


def _summary(samples: list[float], **extra: Any) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
            "mean_ms": round(statistics.fmean(ms), 2), "max_ms": round(max(ms), 2),
            "target_p50_ms": TARGET_P50_MS, **extra}


async def e2e_latency(n: int = 200, *, warmup: int = 10, in_process: bool = False) -> dict[str, Any]:
    """Message-to-reply latency p50/p99 (ms) through wechaty and the local gateway, pacing off."""
    with tempfile.TemporaryDirectory(prefix="linggong-e2e-") as tmp:
        workdir = Path(tmp)
        database, config_path = workdir / "e2e.db", workdir / "config.toml"
        config = write_config(config_path, database=database)
        gateway = market_gateway(config)
        await gateway.start()
        try:
            if in_process:
                return _summary(await _in_process(config, database, gateway, n, warmup),
                                path="linggong's BotRuntime in the gateway's process")
            bot = await BotProcess.start(config_path, database, gateway.endpoint, workdir, workdir / "bot.log")
            try:
                await bot.wait_for_log("WeChat ready")
                samples = await _latencies(gateway, n, warmup)
            finally:
                await bot.stop()
            return _summary(samples, path="linggong run (a separate process) and the gateway")
        finally:
            await gateway.stop()


async def _in_process(config: Any, database: Path, gateway: Gateway, n: int, warmup: int) -> list[float]:
    from bot.runtime import BotRuntime, timings_for

    config = replace(config, wechat=replace(config.wechat, endpoint=gateway.endpoint))
    runtime = BotRuntime(config, str(database), timings=timings_for(config), scheduler=False)
    await runtime.start()
    try:
        await runtime.wait_ready(30.0)
        return await _latencies(gateway, n, warmup)
    finally:
        await runtime.stop()


async def measure_memory(idle_seconds: float, storm: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="linggong-mem-") as tmp:
        workdir = Path(tmp)
        database, config_path = workdir / "mem.db", workdir / "config.toml"
        config = write_config(config_path, database=database)
        workers = extra_workers(storm)
        await import_workers(config_path, database, workers, workdir)
        gateway = market_gateway(config, workers)
        await gateway.start()
        bot = await BotProcess.start(config_path, database, gateway.endpoint, workdir, workdir / "bot.log")
        db = None
        try:
            await bot.wait_for_log("WeChat ready")
            ready = bot.memory()
            await asyncio.sleep(idle_seconds)  # idle: heartbeats, dings, the scheduler
            idle = bot.memory()
            rooms = {r.topic: r.id for r in gateway.state.rooms.values()}
            for who, room, text in [(RESIDENT, GRID1, _need(0)), (STAFF, GRID1, "派单1")]:
                await gateway.inject_text(who, text, room_id=rooms[room])
            began = time.perf_counter()
            for w in workers:
                await gateway.inject_text(w.wechat, "接1", room_id=rooms[MARKET])
            db = Database(database)
            rss_peak = 0
            async with asyncio.timeout(120):
                while (db.value("SELECT COUNT(*) FROM processed") < storm + 2
                       or db.value("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")):
                    rss_peak = max(rss_peak, bot.memory()["VmRSS"])
                    await asyncio.sleep(0.01)
            seconds = time.perf_counter() - began
            after = bot.memory()
            winners = db.value("SELECT COUNT(*) FROM events WHERE kind = 'taken'")
        finally:
            if db is not None:
                db.close()
            await bot.stop()
            await gateway.stop()
    mb = 1024.0
    return {
        "ready_rss_mb": round(ready["VmRSS"] / mb, 1),
        "idle_rss_mb": round(idle["VmRSS"] / mb, 1),
        "idle_peak_mb": round(idle["VmHWM"] / mb, 1),
        "idle_seconds": idle_seconds,
        "storm_claims": storm,
        "storm_seconds": round(seconds, 2),
        "storm_winners": winners,
        "storm_rss_mb": round(max(rss_peak, after["VmRSS"]) / mb, 1),
        "storm_peak_mb": round(after["VmHWM"] / mb, 1),
        "sends": len(gateway.sent),
        "target_idle_mb": TARGET_IDLE_MB,
    }


def run_memory(idle_seconds: float = 3.0, storm: int = 500) -> dict[str, Any]:
    """Peak RSS (VmHWM) of a ``linggong run`` process idle after ready, then under a claim storm."""
    return asyncio.run(measure_memory(idle_seconds, storm))


def table(latency: dict[str, Any], local: dict[str, Any], memory: dict[str, Any]) -> str:
    def ok(good: bool) -> str:
        return "met" if good else "MISSED"

    rows = [
        ("what", "measured", "target"),
        (f"message → reply p50, {latency['path']}", f"{latency['p50_ms']} ms",
         f"< {TARGET_P50_MS:g} ms ({ok(latency['p50_ms'] < TARGET_P50_MS)})"),
        ("message → reply p99 / max", f"{latency['p99_ms']} / {latency['max_ms']} ms", ""),
        (f"message → reply p50 / p99, {local['path']}", f"{local['p50_ms']} / {local['p99_ms']} ms", ""),
        (f"linggong run idle {memory['idle_seconds']:g} s after ready: peak RSS (VmHWM)",
         f"{memory['idle_peak_mb']} MB", f"< {TARGET_IDLE_MB:g} MB ({ok(memory['idle_peak_mb'] < TARGET_IDLE_MB)})"),
        ("  RSS at ready / after idling", f"{memory['ready_rss_mb']} / {memory['idle_rss_mb']} MB", ""),
        (f"under a claim storm of {memory['storm_claims']}: peak RSS (VmHWM)", f"{memory['storm_peak_mb']} MB", ""),
        ("  storm handled and answered in", f"{memory['storm_seconds']} s ({memory['storm_winners']} winner, "
                                           f"{memory['sends']} sends in all)", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="messages timed (after 10 warm-up ones)")
    parser.add_argument("--storm", type=int, default=500, help="claims in the storm")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before measuring")
    args = parser.parse_args(argv)
    latency = asyncio.run(e2e_latency(args.n))
    local = asyncio.run(e2e_latency(args.n, in_process=True))
    memory = run_memory(args.idle, args.storm)
    print(table(latency, local, memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
