"""Run level: the real DAG, through Airflow, stops before publish when a critical expectation fails.

A day whose upstream logs are mostly replays (duplicate rate far above the limit) fails the
interactions gate inside the ingest task; the task fails without retry, everything between
it and publish is upstream_failed, no catalog pointer appears, and both the task log and
the run report name the failing expectation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
FAILING = "interactions_arrivals: expect_column_values_to_be_in_set(status) — duplicate + replay rate <= 20%"
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]

# dag.test() in a child process (Airflow wants its own AIRFLOW_HOME); prints the task states.
RUN_DAG = """
import datetime as dt, json, sys
from jobs.cli import DAG_ID, DAGS_DIR, _prepare_airflow
from generec_core.stage_graph import NAMES as STAGES
root = sys.argv[1]
_prepare_airflow(root, verbose=True)
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=str(DAGS_DIR)).get_dag(DAG_ID)
stages = [s for s in STAGES if s != "frames"]  # no videos in this world: only the gate is under test
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]).replace(tzinfo=dt.timezone.utc),
               run_conf={"root": root, "stages": stages, "shards": 1})
print("TASK_STATES " + json.dumps({ti.task_id: str(ti.state) for ti in run.get_task_instances()}))
"""


def test_a_failed_expectation_stops_the_run_before_publish(tmp_path):
    raw = tmp_path / "world" / "raw" / "interactions" / f"dt={DAY}"
    raw.mkdir(parents=True)
    event = {"user_id": "u1", "item_id": "i1", "event_type": "click", "ts": f"{DAY}T10:00:00Z"}
    lines = [json.dumps({"event_id": f"e{n % 4}", **event}) for n in range(20)]  # 16 of 20 are duplicates
    (raw / "part-0.jsonl").write_text("\n".join(lines) + "\n")
    root = (tmp_path / "world").as_uri()
    env = {**os.environ, "GENEREC_AIRFLOW_HOME": str(tmp_path / "airflow"), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("GENEREC_SPARK_CONN_ID", None)

    proc = subprocess.run([sys.executable, "-c", RUN_DAG, root, DAY], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)

    log = proc.stdout + proc.stderr
    states_line = next((line for line in proc.stdout.splitlines() if line.startswith("TASK_STATES ")), None)
    assert states_line, log[-6000:]
    states = json.loads(states_line.removeprefix("TASK_STATES "))
    assert states["ingest"] == "failed", states
    assert states["publish"] == "upstream_failed", states
    assert states["features"] == "upstream_failed", states
    assert FAILING in log  # the task log names the failing expectation
    assert not (tmp_path / "world" / "catalog" / "CURRENT").exists()
    report = tmp_path / "world" / "reports" / f"run=nightly-{DAY}" / "index.html"
    text = report.read_text()
    assert "FAILED — the run stopped before publish" in text
    assert "duplicate + replay rate &lt;= 20%" in text
