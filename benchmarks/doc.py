"""The printed table and docs/benchmarks.md of ``python -m benchmarks.run``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from benchmarks.common import NO_PG, Results, Row, Sizes, filesystem, machine


def table(rows: list[Row]) -> str:
    header = ("benchmark", "figure", "SQLite", "PostgreSQL", "target", "")
    cells = [header] + [(r.group, r.figure, r.value, r.pg, r.target, judged(r, "met", "MISSED")) for r in rows]

    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    widths = [max(width(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for k, cell in enumerate(cells):
        lines.append("  ".join(text + " " * (widths[i] - width(text)) for i, text in enumerate(cell)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def judged(r: Row, met: str, missed: str) -> str:
    """The verdict of a row: SQLite's, and PostgreSQL's after a slash where it is judged too."""
    marks = [("" if r.met is None else met if r.met else missed)]
    if r.pg_met is not None:
        marks.append(f"PostgreSQL {met if r.pg_met else missed}")
    return " / ".join(m for m in marks if m)


def markdown(results: Results, sizes: Sizes, work: Path, quick: bool, seconds: float) -> str:
    m = machine()
    out = ["# Benchmarks", "",
           f"Measured by `python -m benchmarks.run{' --quick' if quick else ''}` on "
           f"{datetime.now().strftime('%Y-%m-%d')}, all figures in one run on one machine ({seconds:.0f} s in all).",
           "", "## Machine", ""]
    out += [f"- {k}: {v}" for k, v in m.items()]
    out += [f"- {k}: {v}" for k, v in results.pg_facts.items()]
    out += [f"- database folder: {filesystem(work)}", "", "## Results", "",
            "| benchmark | figure | SQLite | PostgreSQL | target | |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results.rows:
        out.append(f"| {r.group} | {r.figure} | {r.value} | {r.pg} | {r.target} | {judged(r, 'met', '**missed**')} |")
    out += ["", "Targets are judged on the SQLite column (the default backend), and on the PostgreSQL column where "
            "the verdict names it. The PostgreSQL column runs the same code on a PostgreSQL repository "
            "(`storage.postgres`, an asyncpg pool), each benchmark in a fresh schema dropped afterwards"
            + ("." if results.pg_url else f"; in this run: {results.pg_missing}."),
            "", "## What each figure measures and what bounds it", ""]
    for group, note in results.notes.items():
        out += [f"**{group}.** {note}", ""]
        if group in results.pg_notes:
            out += [f"**{group}, on PostgreSQL.** {results.pg_notes[group]}", ""]
    out += DOC_TAIL
    missed = [r for r in results.rows if r.met is False or r.pg_met is False]
    out += ["## Targets missed", ""]
    if not missed:
        out += ["None of the measured figures misses its target.", ""]
    for r in missed:
        where = [name for name, met in (("SQLite", r.met), ("PostgreSQL", r.pg_met)) if met is False]
        value = " / ".join(v for v, met in ((r.value, r.met), (r.pg, r.pg_met)) if met is False)
        out += [f"- {r.group} ({', '.join(where)}): {r.figure}: {value} against {r.target}. "
                f"{MISSED_WHY.get(r.group, '')}", ""]
    pending = [r for r in results.rows if r.value.startswith("n/a") and r.value != NO_PG]
    if pending:
        out += ["Not measured yet (need `linggong run`): " + "; ".join(f"{r.group}: {r.figure}" for r in pending) + ".",
                ""]
    sizes_text = ", ".join(f"{k} = {v:,}" for k, v in sizes.__dict__.items())
    out += ["## Sizes", "", sizes_text, ""]
    return "\n".join(out)


DOC_TAIL = [
    "## Definitions", "",
    "- Intake throughput: residents' needs in grid groups, one `await app.process(msg)` after another (as the "
    "runner feeds them), each one transaction that stores the order, its audit event, the rendered "
    "acknowledgement in the outbox and the processed message id. The acknowledgement is counted when it is "
    "committed to the outbox; delivery is paced by the outbox, not part of this figure. The baseline replays "
    "the statements those very messages ran (recorded by SQLite's trace callback), each message's transaction "
    "in one call to the database thread, on a copy of the database as it was before them; the raw loop "
    "commits one row per message, for the disk's pace. Same PRAGMAs (WAL, synchronous=FULL, foreign_keys, "
    "busy_timeout); medians of alternating rounds.",
    "- Claim storm: all claims are submitted at the same moment as separate tasks while the outbox sender runs; "
    "*decision time* is how long a claim's own transaction held the database (from BEGIN done to COMMIT done: "
    "the conditional UPDATE or the late notice, the audit event, the outbox rows); *latency from submission* "
    "adds the wait for the claims before it. Pacing is the configured one (config.toml [outbox]), in "
    "simulated time.",
    "- Reports: `bot.reports.tally` and `bot.reports.ranking` (what the bot runs for 今日统计, 接单王 and the "
    "scheduled posts) inside one transaction; *warm* is the median of the repeats after the first run, *cold* "
    "the first run after opening the database (the OS page cache may still hold the file).",
    "- Real day: *write lock* is the longest a write transaction of that job or page stayed open (from taking "
    "SQLite's write lock, or PostgreSQL's BEGIN, to COMMIT); *message -> first reply* runs from handing the "
    "message to `app.process` until the outbox has sent its first reply through the transport. Counts come "
    "from `storage/stats.py`: a *call* is one round trip to aiosqlite's database thread or to the PostgreSQL "
    "server, which may carry several statements.", "",
]

MISSED_WHY = {
    "intake": "The replay does the app's database work in one call per message; the app adds its Python "
              "(parsing with the classifier, the handler, rendering, row objects) and two more calls to the "
              "database thread. When the shared disk's fsync is fast that fixed cost decides the ratio.",
    "claim storm": "On PostgreSQL the median claim decides in under 5 ms; the tail is the claims that read the order before the winner committed: their conditional UPDATE waits on the winner's row lock until its COMMIT (a WAL flush), and ten pooled connections share the machine's two CPUs with their server backends, so the last of a wave waits for the others' round trips too. Late claims no longer queue on a shared notice row (each inserts its own), which took the p99 from 165 ms to this under load. Deciding the claim without waiting (failing fast while another transaction holds the order) would lose the claim if that transaction rolled back, so it is not done here.",
}
