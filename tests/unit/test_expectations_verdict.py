"""Gate verdicts without GX or Spark: what stops a run, how failures are named and reported."""

from __future__ import annotations

import logging

import pytest

from generec_core.config import PipelineConfig
from generec_core.expectations import DataQualityError, raise_on_failure
from generec_core.expectations.html import data_quality_section
from generec_core.expectations.verdict import brief

FAILED = "interactions_lake: expect_column_values_to_not_be_null(user_id) — not-null keys"
WARNED = "interactions_lake: expect_table_row_count_to_be_between() — volume within ±50% of the trailing mean"


def verdict(success: bool) -> dict:
    results = [{"name": FAILED, "severity": "critical", "success": success, "observed": "2 unexpected of 9"},
               {"name": WARNED, "severity": "warning", "success": False, "observed": "3"}]
    return {"gate": "interactions", "dt": "2026-11-20", "success": success,
            "critical_failures": [] if success else [FAILED], "warnings": [WARNED], "skipped": [],
            "suites": [{"suite": "interactions_lake", "success": False, "evaluated": 2, "results": results,
                        "html": "work/run=nightly-2026-11-20/expectations/interactions_lake.html"}]}


def test_a_critical_failure_raises_naming_the_expectation_and_its_page(caplog):
    with caplog.at_level(logging.INFO), pytest.raises(DataQualityError) as failure:
        raise_on_failure(brief(verdict(success=False)))
    assert FAILED in str(failure.value)
    assert "work/run=nightly-2026-11-20/expectations/interactions_lake.html" in str(failure.value)
    assert f"data-quality FAILED (interactions): {FAILED}" in caplog.text
    assert f"data-quality warning (interactions): {WARNED}" in caplog.text
    assert failure.value.verdict["critical_failures"] == [FAILED]


def test_warnings_alone_do_not_stop_the_run():
    assert raise_on_failure(verdict(success=True))["success"]


def test_report_section_shows_quarantine_reasons_and_gates_in_flow_order():
    metrics = {"ingest": {"read": 12, "clean": 9, "quarantined": 3, "quarantine_by_reason": {"non_utf8": 2,
                                                                                            "<b>odd</b>": 1}},
               "expectations-features": {**verdict(True), "gate": "features"},
               "expectations-interactions": verdict(False)}
    html = data_quality_section(metrics)
    assert html.index("Gate interactions: FAILED") < html.index("Gate features: PASSED")
    assert "<td>non_utf8</td><td>2</td>" in html and "&lt;b&gt;odd&lt;/b&gt;" in html
    assert "href='../../work/run=nightly-2026-11-20/expectations/interactions_lake.html'" in html
    assert "1 / 2" in html and "not-null keys [critical]: 2 unexpected of 9" in html
    assert "no data-quality gate ran" in data_quality_section({})


def test_config_validates_the_new_sections():
    config = PipelineConfig.from_dict({"features": {"taste_mode": "paper", "als_top_k": 0},
                                       "expectations": {"volume_severity": "warning"},
                                       "ingest": {"max_line_bytes": 1024}})
    assert (config.features.taste_mode, config.expectations.volume_severity, config.ingest.max_line_bytes) == (
        "paper", "warning", 1024)
    for bad in ({"features": {"skip_push": 1.5}}, {"expectations": {"volume_severity": "fatal"}},
                {"ingest": {"max_line_bytes": 1}}):
        with pytest.raises(ValueError):
            PipelineConfig.from_dict(bad)


def test_the_failure_message_names_the_date_what_was_seen_and_why():
    """A stage's summary carries the brief verdict: the date, the observed values and the context survive it."""
    failed = {**verdict(success=False), "observed": {FAILED: "2 unexpected of 9"},
              "context": ["quarantined 1 of 10 lines read (10.0%); top reasons: bad_json 1"]}
    with pytest.raises(DataQualityError) as failure:
        raise_on_failure(brief(failed))
    message = str(failure.value)
    assert "failed for dt=2026-11-20" in message and f"{FAILED} (observed: 2 unexpected of 9)" in message
    assert "top reasons: bad_json 1" in message


def test_report_section_lists_the_items_left_out_by_reason():
    metrics = {"frames": {"catalogue_rejected_by_reason": {"bad_json": 2, "path_outside_items:video": 1},
                          "items_quarantined_by_reason": {"truncated": 3}}}
    html = data_quality_section(metrics)
    for reason, n in (("bad_json", 2), ("path_outside_items:video", 1), ("truncated", 3)):
        assert f"<td>{reason}</td><td>{n}</td>" in html
    clean = data_quality_section({"frames": {"catalogue_rejected_by_reason": {}, "items_quarantined_by_reason": {}}})
    assert "every catalogue line and every new item's video was usable" in clean


def test_report_section_sums_the_item_shards_of_the_frames_stage():
    metrics = {"frames-shard-0": {"catalogue_rejected_by_reason": {"bad_json": 2},
                                  "items_quarantined_by_reason": {"truncated": 1}},
               "frames-shard-1": {"catalogue_rejected_by_reason": {}, "items_quarantined_by_reason": {"truncated": 2,
                                                                                                     "blank": 1}}}
    html = data_quality_section(metrics)
    for reason, n in (("bad_json", 2), ("truncated", 3), ("blank", 1)):
        assert f"<td>{reason}</td><td>{n}</td>" in html
