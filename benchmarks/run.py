"""``python -m benchmarks.run [--quick]``: measure the bot, print a table, write docs/benchmarks.md.

Every figure is measured in this one run on this machine, side by side with its baseline:

intake model the classifier's precision / recall / review share / category accuracy on the test
             split and the holdout, start-up training time, time per message and its memory
             (benchmarks/classifier.py).
intake       app.process of residents' needs (order + audit event + acknowledgement in the outbox
             + processed id, one transaction each) on a file database in WAL mode, against the
             same statements replayed one call per message, and the raw aiosqlite loop (BEGIN
             IMMEDIATE, one INSERT, COMMIT) for the disk's pace (benchmarks/intake.py).
claim storm  N claims of one dispatched order submitted at once, the outbox running with the
             configured pacing: per-claim service time and latency from submission, exactly one
             winner, messages the market group receives (benchmarks/storm.py).
reports      the daily tally and the yearly ranking over a synthetic year of city-scale data
             (benchmarks/city.py), through the same code the bot runs (handlers.reports), with the
             indexes of migration 003 and, for comparison, without them (benchmarks/reports.py).
real day     an interleaved city (1M orders of 700 communities, the served one holding 100k, with
             events, outbox and handled ids): each scheduled job body and web page timed with the
             longest write transaction it held; message -> reply p50 / p99 alone and while a day of
             jobs and pages runs beside; peak RSS during them; calls to the database and
             transactions per intake, claim and delivered reply, counted (benchmarks/daybench.py,
             benchmarks/day.py, benchmarks/daycity.py).
end to end   ``linggong run`` as a separate process, connected through the real wechaty client to a
             local gateway in this process (benchmarks/e2e.py, benchmarks/harness.py): 200 needs
             after 10 warm-up ones, one at a time with pacing off, each timed from its injection
             into the gateway until the bot's acknowledgement reaches it; p50 / p99.
memory       peak RSS (VmHWM) of such a process idle for 3 s after it is ready, then through a storm
             of ``storm_claims`` claims of one order by workers registered with ``linggong workers
             import``.  Both are measured in a full run only (under ``--quick`` their rows say "not
             in --quick"); if a subprocess fails, both rows say "failed: …" and the other figures
             are kept (benchmarks/wechaty_bench.py).

PostgreSQL   ``--pg URL`` (default ``$LINGGONG_BENCH_PG_URL``, else ``$LINGGONG_TEST_PG_URL``) adds a
column:      the same intake (against a raw asyncpg BEGIN + INSERT + COMMIT loop), storm and reports
             on a PostgreSQL repository, each in a fresh schema dropped afterwards; the city is
             loaded with COPY (benchmarks/pg.py).  Unreachable or unset: "n/a (no PostgreSQL)".
             ``--quick`` measures it only when ``--pg`` is given.

``--quick`` uses small sizes (the test suite runs it as a smoke test of correctness, not of
timing) and does not write the doc unless ``--doc`` is given.  Time comes from
``time.perf_counter``; the app's own clock is a FakeClock, so pacing is simulated, never slept.

This module holds the list of benchmarks (``BENCHES``), ``run_benchmarks`` and ``main``; the sizes,
rows and machine facts they share are in benchmarks/common.py, the table and the doc in
benchmarks/doc.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from benchmarks.classifier import bench_classifier
from benchmarks.daybench import bench_day
from benchmarks.common import DOC, FULL, NO_PG, QUICK, ROOT, Results, Sizes
from benchmarks.doc import markdown, table
from benchmarks.intake import bench_intake
from benchmarks.reports import bench_reports
from benchmarks.storm import bench_storm
from benchmarks.wechaty_bench import bench_wechaty

BENCHES: list[Callable[[Sizes, Path, Results], Awaitable[None]]] = [bench_intake, bench_classifier, bench_storm,
                                                                   bench_reports, bench_day, bench_wechaty]


async def run_benchmarks(sizes: Sizes, work: Path, only: list[str] | None = None,
                         pg_url: str | None = None) -> Results:
    results = Results()
    if pg_url:
        from benchmarks import pg

        reason = await pg.unreachable(pg_url)
        if reason is None:
            results.pg_url = pg_url
            results.pg_facts = await pg.server_facts(pg_url)
        else:
            results.pg_missing = f"{NO_PG}: {reason}"
            print(f"PostgreSQL column skipped: {pg_url} is not reachable ({reason})", file=sys.stderr)
    else:
        results.pg_missing = NO_PG + (": not in --quick without --pg" if sizes is QUICK else "")
    for bench in BENCHES:
        name = bench.__name__.removeprefix("bench_")
        if only and name not in only:
            continue
        await bench(sizes, work, results)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test, not a measurement)")
    p.add_argument("--dir", type=Path, help="folder for the benchmark databases (default: a temporary folder)")
    p.add_argument("--doc", type=Path,
                   help=f"write the results here (default for a full run of everything: {DOC.relative_to(ROOT)})")
    p.add_argument("--only", nargs="*", choices=[b.__name__.removeprefix("bench_") for b in BENCHES])
    p.add_argument("--json", action="store_true", help="also print the rows and checks as JSON")
    p.add_argument("--pg", metavar="URL", default=None,
                   help="PostgreSQL for the PostgreSQL column (default: $LINGGONG_BENCH_PG_URL or "
                        "$LINGGONG_TEST_PG_URL; --quick uses PostgreSQL only when --pg is given); "
                        "--pg '' turns it off")
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.pg is not None:
        pg_url = args.pg or None
    elif args.quick:
        pg_url = None
    else:
        pg_url = next((os.environ[k] for k in ("LINGGONG_BENCH_PG_URL", "LINGGONG_TEST_PG_URL")
                       if os.environ.get(k)), None)
    doc = args.doc or (None if args.quick or args.only else DOC)  # the doc holds complete runs only
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        results = asyncio.run(run_benchmarks(sizes, work, args.only, pg_url))
        seconds = time.perf_counter() - started
        print(table(results.rows))
        if args.json:
            print(json.dumps({"rows": [r.__dict__ for r in results.rows], "checks": results.checks},
                             ensure_ascii=False, default=str))
        if doc is not None:
            doc.parent.mkdir(parents=True, exist_ok=True)
            doc.write_text(markdown(results, sizes, work, args.quick, seconds), encoding="utf-8")
            print(f"\nwrote {doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
