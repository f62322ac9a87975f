"""The top of the run report: status, what was published, gate pass rates and failure reasons, and the
stage timings in run order (``run_overview``), and the page that opens with them (``run_report.page``)."""

from __future__ import annotations

import base64
import re

from generec_core.run_overview import (
    halted_verdicts,
    pass_rates,
    published,
    run_order,
    run_status,
    stage_timings,
    top_failure_reasons,
)
from generec_core.run_report import RunFacts, page, png_data_uri
from generec_core.stage_graph import NAMES
from generec_core.timing_chart import timing_chart

GATE = {"pass_rate": 0.75, "floor": 0.5, "failed": 1, "assets": 4,
        "by_stage": {"personalise": {"assets": 4, "passed": 3, "pass_rate": 0.75, "floor": 0.5},
                     "generate": {"assets": 2, "passed": 1, "pass_rate": 0.5, "floor": 0.0}},
        "by_kind": {"clip:pass": 1, "generated:fail": 1, "generated:pass": 1, "selected:fail": 1, "selected:pass": 2},
        # stored with sorted keys (metrics.record): the counts, not the key order, say which is the most frequent
        "failure_reasons": {"a_blur: too soft": 1, "nsfw: flagged": 3, "sharpness: 0.1 below 0.3": 2, "z: rare": 1},
        "manifest_checks": {"success": True, "evaluated": 3, "failed": []},
        "created": {"items": 2, "passed": 1, "pass_rate": 0.5, "recipients": 3, "failure_reasons": {}}}


def _metrics(**extra: dict) -> dict[str, dict]:
    """A run's records in the order a directory listing gives them (alphabetical), shards included."""
    records = {"create": {"seconds": 4.0}, "evaluate": {"seconds": 2.0}, "features": {"seconds": 8.0},
               "frames": {"seconds": 3.0}, "gate": {**GATE, "seconds": 5.0}, "generate-shard-0": {"seconds": 6.0},
               "generate-shard-1": {"seconds": 7.0}, "ingest": {"seconds": 9.0}, "instruct": {"seconds": 1.0},
               "personalise-shard-0": {"seconds": 2.5}, "personalise-shard-10": {"seconds": 1.5},
               "personalise-shard-2": {"seconds": 3.5},
               "publish": {"seconds": 1.0, "rows": 6, "assets": 9, "created_items": 1, "manifest": "m"},
               "expectations-interactions": {"gate": "interactions", "success": True}}
    return {**records, **extra}


ROWS = [{"user_id": u, "item_id": i} for u in ("u1", "u2", "u3") for i in ("i1", "i2")]


def test_a_run_without_failures_succeeded():
    status = run_status([], _metrics(), [])
    assert status.succeeded and status.failed == []


def test_failed_tasks_and_halted_verdicts_fail_the_run_once_each():
    failures = [{"task": "generate [shard 1]", "try_number": 1, "error": "KeyError"},
                {"task": "gate", "try_number": 1, "error": "GateFailed"}]
    halted = {"gate": {**GATE, "by_stage": {"personalise": {"assets": 4, "passed": 1, "pass_rate": 0.25, "floor": 0.5}}},
              "expectations-features": {"gate": "features", "success": False}}
    status = run_status(failures, _metrics(**halted), ["publish", "evaluate"])
    assert not status.succeeded
    assert status.failed == ["generate [shard 1]", "gate", "expectations-features"]
    assert status.missing == ["publish", "evaluate"]


def test_a_halted_gate_fails_the_run_without_an_orchestrator():
    """``generec run`` records no task failures; the gate's recorded verdict still says the run stopped."""
    bad_checks = {**GATE, "manifest_checks": {"success": False, "evaluated": 3, "failed": ["rows: 0"]}}
    assert halted_verdicts(_metrics(gate=bad_checks)) == ["gate"]
    assert halted_verdicts(_metrics()) == []
    assert not run_status([], _metrics(gate=bad_checks), []).succeeded


def test_published_counts_rows_users_and_created_items():
    out = published(_metrics()["publish"], ROWS, dry_run=False)
    assert (out.rows, out.users, out.created_items, out.assets, out.note) == (6, 3, 1, 9, "")


def test_a_dry_run_or_a_run_that_never_published_published_nothing():
    dry = published({"dry_run": True, "published": False, "seconds": 0.1}, [], dry_run=True)
    assert (dry.rows, dry.users) == (0, 0) and "dry run" in dry.note and "nothing was published" in dry.note
    assert "did not run" in published(None, [], dry_run=False).note


def test_pass_rates_per_asset_kind():
    rates = {r.kind: (r.assets, r.passed, r.rate) for r in pass_rates(GATE)}
    assert rates == {"clip": (1, 1, 1.0), "generated": (2, 1, 0.5), "selected": (3, 2, 2 / 3)}
    assert pass_rates(None) == [] and pass_rates({"pass_rate": 1.0}) == []


def test_top_failure_reasons_most_frequent_first_ties_by_name():
    assert top_failure_reasons(GATE) == [("nsfw: flagged", 3), ("sharpness: 0.1 below 0.3", 2),
                                         ("a_blur: too soft", 1), ("z: rare", 1)]
    assert top_failure_reasons(GATE, limit=2) == [("nsfw: flagged", 3), ("sharpness: 0.1 below 0.3", 2)]
    assert top_failure_reasons(None) == []


def test_stage_timings_follow_the_run_order_with_each_shard():
    timings = stage_timings(_metrics())
    assert [t.label for t in timings] == [
        "ingest", "instruct", "frames", "features", "personalise [shard 0]", "personalise [shard 2]",
        "personalise [shard 10]", "generate [shard 0]", "generate [shard 1]", "create", "gate", "publish", "evaluate"]
    assert [t.stage for t in timings][4:7] == ["personalise"] * 3 and timings[0].seconds == 9.0
    stages_in_order = list(dict.fromkeys(t.stage for t in timings))
    assert stages_in_order == [n for n in NAMES if n in stages_in_order]


def test_raw_records_sort_in_run_order_other_records_last():
    keys = sorted(_metrics(), key=run_order)
    assert keys[0] == "ingest" and keys[-1] == "expectations-interactions"
    assert keys.index("personalise-shard-2") < keys.index("personalise-shard-10") < keys.index("generate-shard-0")


def test_timing_chart_is_a_png():
    png = timing_chart(stage_timings(_metrics()))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_the_page_opens_with_the_overview_and_folds_the_raw_json():
    chart = png_data_uri(timing_chart(stage_timings(_metrics())))
    html = page("nightly-2026-11-24", "2026-11-24", _metrics(), [dict(r, thumbnail_kind="original") for r in ROWS],
                None, facts=RunFacts(attempt="manual__1", timing_chart=chart))
    overview, _, details = html.partition("<h2>Details</h2>")
    assert "Status: <b class='succeeded'>succeeded</b>" in overview and "manual__1" in overview
    assert "6 rows for 3 users, 1 created items (9 assets)" in overview
    assert "<td>generated</td><td>2</td><td>1</td><td>0.5000</td>" in overview
    assert overview.index("nsfw: flagged (3)") < overview.index("sharpness: 0.1 below 0.3 (2)")
    assert "Created items: 1 of 2 passed" in overview
    src = re.search(r"<img class='chart' src='data:image/png;base64,([^']+)'", overview)
    assert src and base64.b64decode(src.group(1))[:4] == b"\x89PNG"
    raw = re.search(r"<details id='raw-metrics'>(.*?)</details>", details, re.S)
    assert raw and "<details id='raw-metrics' open" not in html
    assert raw.group(1).index("<td>ingest</td>") < raw.group(1).index("<td>instruct</td>")


def test_a_failed_dry_run_page_says_failed_and_nothing_published():
    html = page("nightly-2026-11-24", "2026-11-24", {"ingest": {"seconds": 1.0}}, [], None,
                facts=RunFacts(dry_run=True, failures=[{"task": "frames", "try_number": 2, "error": "OSError: x"}]))
    overview = html.partition("<h2>Details</h2>")[0]
    assert "Status: <b class='failed'>FAILED</b> (failed: frames)" in overview
    assert "dry run: nothing was published" in overview
    assert "the gate recorded no verdicts" in overview and "no stage recorded a time" in overview
