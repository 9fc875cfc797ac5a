"""What every benchmark of ``python -m benchmarks.run`` shares: the sizes, the result rows and
the formatting of figures, the demo config, and the facts about the machine for the doc.
"""

from __future__ import annotations

import os
import platform
import re
import sqlite3
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.config import Config, load_config

NO_PG = "n/a (no PostgreSQL)"
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
PRAGMAS = ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000")  # as the app's


@dataclass(frozen=True)
class Sizes:
    intake_messages: int
    intake_rounds: int
    storm_claims: int
    orders: int
    workers: int
    communities: int
    query_repeats: int


FULL = Sizes(intake_messages=600, intake_rounds=9, storm_claims=500, orders=1_000_000, workers=10_000,
             communities=700, query_repeats=20)
QUICK = Sizes(intake_messages=200, intake_rounds=1, storm_claims=500, orders=20_000, workers=200,
              communities=14, query_repeats=3)


@dataclass
class Row:
    group: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target, or not measured
    pg: str = ""  # the same figure on PostgreSQL ("" where it has no counterpart)
    pg_met: bool | None = None  # the PostgreSQL figure judged against the same target


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)  # correctness facts for the smoke test
    notes: dict[str, str] = field(default_factory=dict)  # bottleneck of each group, for the doc
    pg_url: str | None = None  # the PostgreSQL column is measured when set
    pg_missing: str = NO_PG  # what the PostgreSQL column says when it is not
    pg_notes: dict[str, str] = field(default_factory=dict)  # bottleneck of each group on PostgreSQL
    pg_facts: dict[str, str] = field(default_factory=dict)  # server version and settings, for the doc

    def pg(self, group: str, match: str, value: str, figure: str | None = None, met: bool | None = None) -> None:
        """Put ``value`` in the PostgreSQL column of the row of ``group`` whose figure starts with
        ``match`` (``met``: judged against the row's target); without such a row, append one
        (SQLite column "—") named ``figure or match``."""
        for row in self.rows:
            if row.group == group and row.figure.startswith(match):
                row.pg, row.pg_met = value, met
                return
        self.rows.append(Row(group, figure or match, "—", pg=value, pg_met=met))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def demo_config() -> Config:
    return load_config(ROOT / "config.toml")


def machine() -> dict[str, str]:
    def read(path: str) -> str:
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError:
            return ""

    cpu = next((line.split(":", 1)[1].strip() for line in read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem = next((line.split(":", 1)[1].strip() for line in read("/proc/meminfo").splitlines()
                if line.startswith("MemTotal")), "unknown")
    if mem.endswith(" kB"):
        mem = f"{int(mem[:-3]) / 1024 / 1024:.1f} GiB"
    return {"cpus (nproc)": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
            "cpu": cpu, "memory": mem, "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "aiosqlite": metadata.version("aiosqlite"),
            "load average when the doc was written (1/5/15 min; other jobs share the machine)":
                " / ".join(f"{x:.1f}" for x in os.getloadavg())}


def filesystem(path: Path) -> str:
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path.resolve()).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], f"{parts[2]} ({parts[0]} on {parts[1]})"
    except OSError:
        pass
    return kind


def late_answered(text: str, mentions: tuple[str, ...]) -> int:
    """How many late claimers one "already taken" notice answers: its @-mentions and the ones
    its last line counts ("另有 N 位师傅…", templates/claim_late_more.txt)."""
    counted = re.search(r"另有 (\d+) 位师傅", text)
    return len(mentions) + (int(counted.group(1)) if counted else 0)
