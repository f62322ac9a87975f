"""The gate's part of the run report: per-stage pass rates, data checks, and the bias tables."""

from __future__ import annotations

import pyarrow as pa

from generec_core.fidelity.gating import activity_bucket, bias_report
from generec_core.fidelity.report import gate_section

GATE = {
    "by_stage": {"personalise": {"assets": 40, "passed": 39, "pass_rate": 0.975, "floor": 0.9},
                 "generate": {"assets": 10, "passed": 6, "pass_rate": 0.6, "floor": 0.0}},
    "failed_checks": {"sharpness": 1, "new_faces": 4},
    "manifest_checks": {"success": True, "evaluated": 24, "failed": []},
}


def test_bias_by_cluster_and_activity():
    staged = pa.table({"user_id": ["a", "a", "b", "c", "d"], "item_id": ["i1", "i2", "i1", "i1", "i1"]})
    final = pa.table({"user_id": ["a", "a", "b", "c"], "item_id": ["i1", "i2", "i1", "i1"],
                      "fallback": [None, None, "thumbnail failed gate: sharpness: blurred", None]})
    groups = {"a": ("0", "10+ likes"), "b": ("1", "0 likes"), "c": ("1", "0 likes")}  # d: no features row
    bias = bias_report(staged, final, groups)
    assert bias["cluster"]["groups"] == {"0": {"rows": 2, "pass_rate": 1.0}, "1": {"rows": 2, "pass_rate": 0.5},
                                         "all": {"rows": 1, "pass_rate": 0.0}}  # d's row was dropped
    assert bias["activity"]["groups"]["0 likes"] == {"rows": 2, "pass_rate": 0.5} and bias["activity"]["gap"] == 1.0


def test_activity_buckets():
    assert [activity_bucket(n) for n in (None, 0, 1, 2, 3, 9, 10, 500)] == [
        "unknown", "0 likes", "1-2 likes", "1-2 likes", "3-9 likes", "3-9 likes", "10+ likes", "10+ likes"]


def test_section_flags_a_large_gap_only():
    even = {**GATE, "bias": {"cluster": {"groups": {"0": {"rows": 5, "pass_rate": 0.9}}, "gap": 0.05}}}
    uneven = {**GATE, "bias": {"cluster": {"groups": {"0": {"rows": 5, "pass_rate": 0.9},
                                                       "1": {"rows": 5, "pass_rate": 0.4}}, "gap": 0.5}}}
    html = gate_section(uneven)
    assert "generate" in html and "new_faces 4" in html and "passed, 24 expectations" in html
    assert "by taste cluster <b>— gap 0.5" in html and "<b>— gap" not in gate_section(even)
    assert gate_section(None) == "" and gate_section({"pass_rate": 1.0}) == ""
