"""The benchmark command runs (small sizes) and its correctness facts hold; timings are not tested."""

from __future__ import annotations

import json

from benchmarks import run


def test_quick_benchmark_is_correct(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    assert run.main(["--quick", "--dir", str(tmp_path), "--doc", str(doc), "--json"]) == 0
    out = capsys.readouterr().out
    checks = json.loads(out.splitlines()[-1])["checks"]
    assert checks["intake_orders"] == checks["intake_messages"] == run.QUICK.intake_messages
    assert checks["storm_winners"] == 1 and checks["storm_status"] == "taken"
    assert checks["storm_market_messages"] == 2, "the winner's announcement and one coalesced late notice"
    assert checks["storm_late_mentions"] == run.QUICK.storm_claims - 1
    assert abs(checks["report_orders"] - run.QUICK.orders) <= run.QUICK.communities
    assert checks["report_workers"] >= run.QUICK.workers
    assert checks["report_tally"]["posted"] > 0 and checks["report_ranking"]
    assert sum(done for _, done in checks["report_ranking"]) <= checks["report_busiest_done"]
    text = doc.read_text(encoding="utf-8")
    assert "## Machine" in text and "sqlite:" in text and "not in --quick" in text
    assert "winners" in out and "ratio app / raw" in out
