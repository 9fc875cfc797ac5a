"""The printed table and docs/benchmarks.md of ``python -m benchmarks.run``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from benchmarks.common import NO_PG, Results, Row, Sizes, filesystem, machine


def table(rows: list[Row]) -> str:
    header = ("benchmark", "figure", "SQLite", "PostgreSQL", "target", "")
    cells = [header] + [(r.group, r.figure, r.value, r.pg, r.target,
                         "" if r.met is None else "met" if r.met else "MISSED") for r in rows]

    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    widths = [max(width(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for k, cell in enumerate(cells):
        lines.append("  ".join(text + " " * (widths[i] - width(text)) for i, text in enumerate(cell)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


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
        mark = "" if r.met is None else "met" if r.met else "**missed**"
        out.append(f"| {r.group} | {r.figure} | {r.value} | {r.pg} | {r.target} | {mark} |")
    out += ["", "Targets are judged on the SQLite column (the default backend). The PostgreSQL column runs the "
            "same code on a PostgreSQL repository (`storage.postgres`, an asyncpg pool), each benchmark in a fresh "
            "schema dropped afterwards" + ("." if results.pg_url else f"; in this run: {results.pg_missing}."),
            "", "## What each figure measures and what bounds it", ""]
    for group, note in results.notes.items():
        out += [f"**{group}.** {note}", ""]
        if group in results.pg_notes:
            out += [f"**{group}, on PostgreSQL.** {results.pg_notes[group]}", ""]
    out += DOC_TAIL
    missed = [r for r in results.rows if r.met is False]
    out += ["## Targets missed", ""]
    if not missed:
        out += ["None of the measured figures misses its target.", ""]
    for r in missed:
        out += [f"- {r.group}: {r.figure}: {r.value} against {r.target}. {MISSED_WHY.get(r.group, '')}", ""]
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
    "committed to the outbox; delivery is paced by the outbox, not part of this figure. The raw limit runs on "
    "the same kind of file with the same PRAGMAs (WAL, synchronous=FULL, foreign_keys, busy_timeout) and "
    "commits one row per message. Both are the median of alternating rounds.",
    "- Claim storm: all claims are submitted at the same moment as separate tasks while the outbox sender runs; "
    "*decision time* is how long a claim's own transaction held the database (from BEGIN done to COMMIT done: "
    "the conditional UPDATE or the late notice, the audit event, the outbox rows); *latency from submission* "
    "adds the wait for the claims before it. Pacing is the configured one (config.toml [outbox]), in "
    "simulated time.",
    "- Reports: `bot.reports.tally` and `bot.reports.ranking` (what the bot runs for 今日统计, 接单王 and the "
    "scheduled posts) inside one transaction; *warm* is the median of the repeats after the first run, *cold* "
    "the first run after opening the database (the OS page cache may still hold the file).", "",
]

MISSED_WHY = {
    "intake": "The raw loop is almost only an fsync; whenever the disk is fast the app's fixed cost per "
              "message (CPU for parsing, the handler, rendering and Python row objects, and five more round trips "
              "to aiosqlite's database thread, see above) decides, and the ratio falls below the target. Closing "
              "the gap would take fewer round trips per transaction (the write-only statements of a message, "
              "audit event, outbox row and processed id, sent with the COMMIT in one call on the database thread, "
              "which aiosqlite's public API does not offer) and less Python per message; neither fits this change.",
    "claim storm": "",
}
