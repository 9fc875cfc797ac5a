"""The end-to-end benchmark rows (benchmarks/e2e.py) still run: a few messages, a small storm.

The figures themselves come from ``python -m benchmarks.e2e`` (or benchmarks/run.py); this only
keeps the functions from rotting and checks that what they report is sane.
"""

from __future__ import annotations

from benchmarks.e2e import e2e_latency, percentile, run_memory, table


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([3.0], 99) == 3.0


async def test_e2e_latency_times_replies_through_linggong_run() -> None:
    figures = await e2e_latency(5, warmup=1)
    assert figures["n"] == 5 and 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]


def test_run_memory_measures_an_idle_and_a_storming_linggong_run() -> None:
    memory = run_memory(idle_seconds=0.0, storm=20)
    assert memory["storm_winners"] == 1 and memory["storm_claims"] == 20
    assert 20 < memory["idle_rss_mb"] <= memory["idle_peak_mb"] <= memory["storm_peak_mb"] < 1000
    latency = {"path": "p", "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0}
    assert "peak RSS" in table(latency, latency, memory)
