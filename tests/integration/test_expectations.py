"""The great-expectations gates on real Spark: pass on clean data, name every failure, stop the stage.

The run-level proof (a failed gate leaves publish unrun) is test_expectations_dag.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from generec_core import pipeline
from generec_core.config import ExpectationsConfig, PipelineConfig
from generec_core.datasets import metrics
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.expectations import DataQualityError, raise_on_failure
from generec_core.expectations.html import data_quality_section
from generec_core.spark.session import spark_path
from generec_core.stages.features import check_features
from generec_core.stages.report import build_report
from generec_core.storage import join, write_parquet

PREV, DAY = "2026-11-19", "2026-11-20"
DUPLICATE_RATE = "interactions_arrivals: expect_column_values_to_be_in_set(status) — duplicate + replay rate <= 20%"
VOLUME = "interactions_lake: expect_table_row_count_to_be_between() — volume within ±50% of the trailing mean"
QUARANTINE_SHARE = ("interactions_arrivals: expect_column_values_to_not_be_in_set(status) — quarantined share of the "
                    "lines read <= 5%")
# These tiny days carry one bad line in 10-13, over the default 5% ceiling that the last tests are about.
TOLERANT = ExpectationsConfig(max_quarantine_share=0.1)
pytestmark = pytest.mark.spark


def ev(n: int, date: str, etype: str = "click") -> str:
    return json.dumps({"event_id": f"{date}-{n}", "user_id": f"u{n % 3}", "item_id": f"i{n % 5}",
                       "event_type": etype, "ts": f"{date}T10:{n % 60:02d}:00Z"})


def write_day(root: str, date: str, lines: list[str]) -> None:
    folder = Path(spark_path(Layout(root).raw_interactions(date)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory) -> Path:
    """A root whose lake holds PREV (10 events): the trailing history of DAY's volume band."""
    folder = tmp_path_factory.mktemp("history")
    write_day(folder.as_uri(), PREV, [ev(n, PREV) for n in range(10)])
    pipeline.run_stage("ingest", PipelineConfig(root=folder.as_uri()), PREV)
    return folder


@pytest.fixture()
def root(history, tmp_path) -> str:
    shutil.copytree(history, tmp_path / "root")
    return (tmp_path / "root").as_uri()


def test_a_clean_day_passes_both_suites_and_is_rendered(spark, root):
    config = PipelineConfig(root=root, expectations=TOLERANT)
    write_day(root, DAY, [ev(n, DAY, "like" if n % 4 == 0 else "click") for n in range(12)] + ["not json"])

    summary = pipeline.run_stage("ingest", config, DAY)

    assert summary["clean"] == 12 and summary["quarantine_by_reason"] == {"bad_json": 1}
    audit = summary["audit"]
    assert audit["success"] and audit["critical_failures"] == [] and audit["skipped"] == []
    verdict = metrics.load_all(Layout(root), run_id_for(DAY))["expectations-interactions"]
    lake = next(s for s in verdict["suites"] if s["suite"] == "interactions_lake")
    assert lake["success"] and lake["evaluated"] == 24  # 23 fixed + the volume band from PREV's 10 rows
    band = next(r for r in lake["results"] if r["name"] == VOLUME)
    assert band["success"] and band["observed"] == "12"
    page = Path(spark_path(join(root, lake["html"])))
    assert lake["html"] == f"work/run={run_id_for(DAY)}/expectations/interactions_lake.html"
    text = " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())  # GX's own Data Docs page, as text
    assert "Expectation Suite: interactions_lake" in text and "values must never be null" in text
    first = metrics.load_all(Layout(root), run_id_for(PREV))["expectations-interactions"]
    assert first["skipped"] == ["volume band: 0 of the trailing 7 day(s) in the lake, 1 needed"]


def test_failing_expectations_stop_the_stage_and_name_themselves(spark, root):
    config = PipelineConfig(root=root, expectations=TOLERANT)
    # 3 events, each sent 3 times: 6 of 9 accepted lines are duplicates; 3 rows vs a mean of 10
    write_day(root, DAY, [ev(n, DAY) for n in range(3)] * 3 + ["{broken"])

    with pytest.raises(DataQualityError) as failure:
        pipeline.run_stage("ingest", config, DAY)

    message = str(failure.value)
    assert DUPLICATE_RATE in message and VOLUME in message
    assert "work/run=nightly-2026-11-20/expectations/interactions_arrivals.html" in message
    recorded = metrics.load_all(Layout(root), run_id_for(DAY))
    assert recorded["ingest"]["quarantine_by_reason"] == {"bad_json": 1}  # counts kept although it failed
    assert recorded["expectations-interactions"]["critical_failures"] == [VOLUME, DUPLICATE_RATE]
    arrivals = next(s for s in recorded["expectations-interactions"]["suites"]
                    if s["suite"] == "interactions_arrivals")
    assert arrivals["results"][0]["observed"].startswith("6 unexpected of 9")

    report = Path(spark_path(build_report(config, DAY))).read_text()
    assert "FAILED — the run stopped before publish" in report
    assert "duplicate + replay rate &lt;= 20%" in report and "bad_json" in report
    assert f"href='../../work/run={run_id_for(DAY)}/expectations/interactions_arrivals.html'" in report


def test_a_warning_severity_reports_without_stopping(spark, root):
    settings = ExpectationsConfig(volume_severity="warning", max_duplicate_rate=0.8)
    config = PipelineConfig(root=root, expectations=settings)
    write_day(root, DAY, [ev(n, DAY) for n in range(3)] * 3)

    summary = pipeline.run_stage("ingest", config, DAY)

    assert summary["audit"]["success"] and summary["audit"]["warnings"] == [VOLUME]
    section = data_quality_section(metrics.load_all(Layout(root), run_id_for(DAY)))
    assert "PASSED" in section and "Warnings" in section


# --- one bad row costs its row; only a day-level share stops the run ------------------------------

NO_VOLUME = ExpectationsConfig(volume_severity="warning")  # these days are larger than the history's band


def test_bad_lines_under_the_ceiling_cost_only_themselves(spark, root):
    bad = ['{"event_id": "x1", "user_id": "u1"', json.dumps({**json.loads(ev(99, DAY, "watch")), "watch_ms": -5})]
    write_day(root, DAY, [ev(n, DAY) for n in range(40)] + bad)  # 2 of 42 lines: 4.8%

    summary = pipeline.run_stage("ingest", PipelineConfig(root=root, expectations=NO_VOLUME), DAY)

    assert summary["audit"]["success"] and summary["clean"] == 40
    assert summary["quarantine_by_reason"] == {"bad_json": 1, "implausible:watch_ms": 1}


def test_too_many_bad_lines_stop_the_run_naming_the_date_the_share_and_the_reasons(spark, root):
    bad = ["not json"] * 2 + [json.dumps({**json.loads(ev(n, DAY)), "user_id": " padded"}) for n in (97, 98, 99)]
    write_day(root, DAY, [ev(n, DAY) for n in range(15)] + bad)  # 5 of 20 lines: 25%

    with pytest.raises(DataQualityError) as failure:
        pipeline.run_stage("ingest", PipelineConfig(root=root, expectations=NO_VOLUME), DAY)

    message = str(failure.value)
    assert f"failed for dt={DAY}" in message and QUARANTINE_SHARE in message
    assert "observed: 5 unexpected of 20" in message
    assert "quarantined 5 of 20 lines read (25.0%); top reasons: bad_id:user_id 3, bad_json 2" in message
    recorded = metrics.load_all(Layout(root), run_id_for(DAY))
    assert recorded["expectations-interactions"]["critical_failures"] == [QUARANTINE_SHARE]
    assert recorded["ingest"]["quarantined"] == 5  # the counts are kept although the run stopped


# --- the features gate, on deliberately broken outputs --------------------------------------

DIM = 4


def _write_features(root: str, users: list[tuple], worklist_users: list[str]) -> None:
    layout = Layout(root)
    write_parquet(join(layout.user_features(DAY), "part-0.parquet"), pa.table({
        "user_id": [u[0] for u in users],
        "taste": pa.array([u[1] for u in users], pa.list_(pa.float32())),
        "n_likes": pa.array([1] * len(users), pa.int32()), "is_cold": [False] * len(users),
        "support": [1.0] * len(users), "cluster": pa.array([u[2] for u in users], pa.int32()),
    }))
    n = len(worklist_users)
    write_parquet(join(layout.worklist(run_id_for(DAY)), "part-0.parquet"), pa.table({
        "user_id": worklist_users, "item_id": [f"i{k}" for k in range(n)], "shard": pa.array([0] * n, pa.int32()),
        "retriever": ["taste_knn"] * n, "candidate_score": [0.5] * n, "rank": pa.array([1] * n, pa.int32()),
        "is_cold": [False] * n, "als_score": pa.array([None] * n, pa.float64()), "cluster": pa.array([0] * n, pa.int32()),
    }))


def test_features_gate_names_each_broken_property(spark, tmp_path):
    root = tmp_path.as_uri()
    good = (np.ones(DIM) / 2).tolist()
    _write_features(root, [
        ("ok", good, 0),
        ("nan", [float("nan")] + good[1:], 0),  # not finite (and so no usable norm)
        ("short", good[:3], 1),  # wrong dimension
        ("long", [1.0, 1.0, 0.0, 0.0], 1),  # norm sqrt(2)
        ("lost", good, 99),  # a cluster id k-means cannot produce
    ], worklist_users=["ok", "ghost"])  # "ghost" has candidates but no taste
    config = PipelineConfig(root=root, features=dataclasses.replace(PipelineConfig().features, clusters=2, shards=1))

    verdict = check_features(spark, config, DAY, DIM)

    assert not verdict["success"]
    failed = {name.split(" — ")[1] for name in verdict["critical_failures"]}
    assert failed == {
        f"taste dimension = encoder dimension {DIM}", "finite taste values (no NaN / inf)",
        "unit-norm tastes (±0.001)", "cluster ids in [0, 2)", "every candidate user has a taste"}
    by_name = {r["name"]: r for s in verdict["suites"] for r in s["results"]}
    dims = by_name[f"user_features: expect_column_values_to_be_between(taste_dim) — taste dimension = "
                   f"encoder dimension {DIM}"]
    assert dims["observed"] == "1 unexpected of 5, e.g. 3"
    with pytest.raises(DataQualityError, match="every candidate user has a taste"):
        raise_on_failure(verdict)
