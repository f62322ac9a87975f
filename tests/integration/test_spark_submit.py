"""The DAG's one Spark switch: in-process tasks by default, spark-submit of jobs/ on a connection.

With GENEREC_SPARK_CONN_ID naming an Airflow Spark connection (here one whose master is
local[1]), the ingest task is a SparkSubmitOperator; executing it really runs spark-submit
of jobs/ingest_interactions.py, which cleans the day and runs its gate like the in-process
stage; a small day's driver gets the short-lived JVM options at submit time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generec_core.spark.session import SHORT_LIVED_JVM

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]

SUBMIT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags["generec_nightly"]
print("TYPES " + json.dumps({t: type(dag.get_task(t)).__name__ for t in ("ingest", "frames", "features")}))
if len(sys.argv) > 2:
    task = dag.get_task("ingest")
    context = {"params": {"root": sys.argv[2], "shards": 1, "top_k": 2, "stages": []}, "ds": sys.argv[3],
               "run_id": "manual__" + sys.argv[3]}
    task.render_template_fields(context)
    print("ARGS " + json.dumps(task.application_args))
    task.execute(context)
"""


def _airflow(tmp_path: Path, *args: str, conn: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("GENEREC_SPARK_CONN_ID", None)
    if conn:
        env["GENEREC_SPARK_CONN_ID"] = "generec_spark"
        env["AIRFLOW_CONN_GENEREC_SPARK"] = json.dumps({"conn_type": "spark", "host": "local[1]"})
    return subprocess.run([sys.executable, "-c", SUBMIT, str(REPO / "dags"), *args], env=env,
                          capture_output=True, text=True, timeout=600)


def _line(proc: subprocess.CompletedProcess, tag: str):
    found = [line for line in proc.stdout.splitlines() if line.startswith(tag + " ")]
    assert found, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(found[0][len(tag) + 1:])


def test_in_process_by_default(tmp_path):
    types = _line(_airflow(tmp_path, conn=False), "TYPES")
    assert types["ingest"] == types["features"] == "_PythonDecoratedOperator"
    assert types["frames"] == "DecoratedMappedOperator"  # in-process too, one task per item shard


def test_spark_submit_on_the_connection_runs_the_job(tmp_path):
    raw = tmp_path / "world" / "raw" / "interactions" / f"dt={DAY}"
    raw.mkdir(parents=True)
    event = {"user_id": "u1", "item_id": "i1", "event_type": "like", "ts": f"{DAY}T10:00:00Z"}
    # 40 good lines and a bad one: quarantined (2.4%, under the day's 5% ceiling), the day goes through
    (raw / "a.jsonl").write_text("\n".join(json.dumps({"event_id": f"e{n}", **event}) for n in range(40))
                                 + "\nnot json\n")
    root = (tmp_path / "world").as_uri()

    proc = _airflow(tmp_path, root, DAY, conn=True)

    assert _line(proc, "TYPES") == {"ingest": "StageSparkSubmit", "frames": "DecoratedMappedOperator",
                                    "features": "StageSparkSubmit"}
    args = _line(proc, "ARGS")
    assert args[:5] == ["--root", root, "--date", DAY, "--config"]
    assert json.loads(args[5])["features"] == {"shards": 1, "top_k": 2}  # the run's params reach the job
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "spark-submit --master local[1]" in proc.stdout + proc.stderr
    # a 41-line day: the driver spark-submit starts gets the short-lived JVM options
    assert f"spark.driver.extraJavaOptions={SHORT_LIVED_JVM}" in proc.stdout + proc.stderr
    assert list((tmp_path / "world" / "lake" / "interactions" / f"dt={DAY}").glob("*.parquet"))
    recorded = json.loads((tmp_path / "world" / "work" / f"run=nightly-{DAY}" / "metrics" / "ingest.json").read_text())
    assert (recorded["clean"], recorded["quarantine_by_reason"], recorded["audit"]["success"]) == (
        40, {"bad_json": 1}, True)
