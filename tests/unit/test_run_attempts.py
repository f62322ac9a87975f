"""A date runs many times (re-runs, dry runs, failures): each Airflow run's report and failure summary
say what that run did, never what an earlier run of the same date recorded."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from generec_core.config import PipelineConfig
from generec_core.datasets import metrics
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.stage_graph import NAMES
from generec_core.stages.report import build_report
from generec_core.storage import file_uri
from jobs.airflow_callbacks import record_task_failure, task_label, write_failure_summary

DATE = "2026-11-24"
FIRST, SECOND = "manual__2026-11-24T00:00:00+00:00", "rerun/after a fix"


def _config(root: Path, attempt: str, dry_run: bool = False) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": file_uri(root), "run": {"attempt": attempt, "dry_run": dry_run}})


def _record(root: Path, attempt: str, stages: list[str]) -> None:
    layout = Layout(file_uri(root))
    for stage in stages:
        gate = {"pass_rate": 1.0, "floor": 0.9, "failed": 0, "assets": 3} if stage == "gate" else {}
        metrics.record(layout, run_id_for(DATE), stage, {"seconds": 1.0, **gate}, attempt)


def _page(uri: str) -> str:
    return Path(uri.removeprefix("file://")).read_text()


def _failed(root: Path, attempt: str, task_id: str, map_index: int, error: Exception) -> None:
    ti = SimpleNamespace(task_id=task_id, map_index=map_index, try_number=3)
    record_task_failure({"ti": ti, "exception": error, "run_id": attempt, "params": {"root": file_uri(root)}})


def test_a_failed_rerun_reports_its_failures_not_the_earlier_success(tmp_path):
    _record(tmp_path, FIRST, [n for n in NAMES if n != "report"])
    first_uri = build_report(_config(tmp_path, FIRST), DATE)
    first = _page(first_uri)
    assert "All stages recorded their results." in first and "Failed tasks" not in first

    _record(tmp_path, SECOND, ["ingest", "frames"])
    _failed(tmp_path, SECOND, "personalise", 1, ValueError("no frames for item-7"))
    uri = build_report(_config(tmp_path, SECOND), DATE)
    second = _page(uri)
    assert "/reports/attempt=" in uri and uri != first_uri and _page(first_uri) == first
    assert "All stages recorded their results." not in second
    assert "personalise [shard 1]" in second and "ValueError: no frames for item-7" in second
    assert "Recorded by an earlier run of this date" in second and "features" in second
    # the date's page is the newest run's
    assert _page(file_uri(tmp_path / f"reports/run={run_id_for(DATE)}/index.html")) == _page(uri)


def test_a_dry_run_says_so(tmp_path):
    _record(tmp_path, FIRST, [n for n in NAMES if n != "report"])
    assert "Dry run:" in _page(build_report(_config(tmp_path, FIRST, dry_run=True), DATE))
    assert "Dry run:" not in _page(build_report(_config(tmp_path, FIRST), DATE))


def test_failure_summary_lists_each_failed_task_and_its_error(tmp_path):
    _failed(tmp_path, SECOND, "preflight", -1, RuntimeError("unknown conf keys ['dryrun']"))
    _failed(tmp_path, SECOND, "generate", 0, KeyError("manifest"))
    dag_run = SimpleNamespace(dag_id="generec_nightly", run_id=SECOND)
    # Airflow 3 runs the DAG callback in the DAG processor: no task instances, only what is recorded
    write_failure_summary({"dag_run": dag_run, "run_id": SECOND, "ds": DATE, "reason": "task_failure",
                           "params": {"root": file_uri(tmp_path)}})
    summary = json.loads(_page(Layout(file_uri(tmp_path)).failure_summary(SECOND)))
    assert summary["failed_tasks"] == ["generate [shard 0]", "preflight"]
    assert "dryrun" in summary["errors"]["preflight"] and summary["errors"]["generate [shard 0]"] == "KeyError: 'manifest'"
    assert summary["airflow_run_id"] == SECOND and summary["date"] == DATE
    assert summary["report"].endswith("/index.html")


def test_task_labels_name_the_shard():
    assert task_label("gate", -1) == "gate" and task_label("generate", 3) == "generate [shard 3]"
