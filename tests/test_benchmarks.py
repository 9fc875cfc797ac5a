"""The benchmark command runs (small sizes) and its correctness facts hold; timings are not tested."""

from __future__ import annotations

import json

from benchmarks import run
from tests.test_storage import pg_url  # noqa: F401  (fixture)


def test_quick_benchmark_is_correct(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    assert run.main(["--quick", "--dir", str(tmp_path), "--doc", str(doc), "--json"]) == 0
    out = capsys.readouterr().out
    checks = json.loads(out.splitlines()[-1])["checks"]
    assert checks["intake_orders"] == checks["intake_messages"] == run.QUICK.intake_messages
    assert checks["storm_winners"] == 1 and checks["storm_status"] == "taken"
    assert checks["classifier_test_precision"] >= 0.97
    assert checks["storm_market_messages"] == 2, "the winner's announcement and one coalesced late notice"
    assert checks["storm_late_mentions"] == run.QUICK.storm_claims - 1, "every late claimer @-mentioned or counted"
    assert abs(checks["report_orders"] - run.QUICK.orders) <= run.QUICK.communities
    assert checks["report_workers"] >= run.QUICK.workers
    assert checks["report_tally"]["posted"] > 0 and checks["report_ranking"]
    assert sum(done for _, done in checks["report_ranking"]) <= checks["report_busiest_done"]
    text = doc.read_text(encoding="utf-8")
    assert "## Machine" in text and "sqlite:" in text and "not in --quick" in text
    assert "winners" in out and "ratio app / same statements in one call" in out
    # the real day ran: messages answered beside the jobs, and the counts (not timings) within the targets
    counts = checks["day_counts"]
    assert checks["day_messages"] > 0
    assert counts["intake"]["round_trips"] <= 5 and counts["claim"]["round_trips"] <= 8
    assert counts["reply_flush"]["transactions"] <= 3, "claim + mark sent, and the flush's last look"


def test_quick_benchmark_without_postgresql_says_so(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    assert run.main(["--quick", "--only", "storm", "--dir", str(tmp_path), "--doc", str(doc)]) == 0
    assert run.NO_PG in capsys.readouterr().out
    assert "not in --quick without --pg" in doc.read_text(encoding="utf-8")


def test_quick_benchmark_postgresql_column_is_correct(tmp_path, capsys, pg_url):
    """With PostgreSQL (``$LINGGONG_TEST_PG_URL``; skipped without it, failed under CI=true)."""
    doc = tmp_path / "benchmarks.md"
    assert run.main(["--quick", "--pg", pg_url, "--dir", str(tmp_path), "--doc", str(doc), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out.splitlines()[-1])["checks"]
    assert checks["pg_intake_orders"] == run.QUICK.intake_messages
    assert checks["pg_storm_winners"] == 1 and checks["pg_storm_status"] == "taken"
    assert checks["pg_storm_market_messages"] == 2
    assert checks["pg_report_orders"] == checks["report_orders"]
    assert checks["day_pg_counts"]["intake"]["round_trips"] <= 5 and checks["day_pg_counts"]["claim"]["round_trips"] <= 8
    assert checks["pg_report_tally"] == checks["report_tally"]
    assert checks["pg_report_ranking"] == checks["report_ranking"]
    assert all(used and not seq for _, used, seq in checks["pg_plans"]), "every report statement uses an index"
    assert "on PostgreSQL." in doc.read_text(encoding="utf-8")
