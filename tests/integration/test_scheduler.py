"""A real Airflow deployment in miniature: `airflow standalone` (scheduler, DAG processor,
API server, triggerer) on 127.0.0.1 with a temporary AIRFLOW_HOME and a PostgreSQL metadata DB;
the DAG is triggered through the REST API with params, like a person in the UI would, and must
succeed; Airflow's own backfill fills the dates before it, and re-running a date is idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from airflow_standalone import DAG_ID, Api, _wait, run_standalone, run_states, wait_for_file, wait_for_run

from generec_core.demo.world import build_demo_world

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    with run_standalone(tmp_path_factory.mktemp("airflow-home")) as (api, log, _port):
        yield api, log


def test_bad_param_is_refused_at_trigger_time(standalone):
    api, _ = standalone
    status, body = api.call("POST", f"/dags/{DAG_ID}/dagRuns",
                            {"logical_date": "2026-11-20T00:00:00Z", "conf": {"shards": 0}})
    assert status == 400, body
    assert "shards" in json.dumps(body)


def _manifest_rows(root: Path, date: str) -> list[dict]:
    path = root / f"catalog/manifests/dt={date}/run=nightly-{date}/manifest.parquet"
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: (r["user_id"], r["item_id"]))


def _backfill(api: Api, log: Path, root: Path, start: str, end: str, reprocess: str) -> list[dict]:
    status, backfill = api.call("POST", "/backfills", {
        "dag_id": DAG_ID, "from_date": f"{start}T00:00:00Z", "to_date": f"{end}T00:00:00Z",
        "dag_run_conf": {"root": str(root), "shards": 2}, "max_active_runs": 1, "reprocess_behavior": reprocess})
    assert status == 200, backfill

    def done():
        _, current = api.call("GET", f"/backfills/{backfill['id']}")
        return current if current.get("completed_at") else None

    _wait(done, 1500, f"backfill {backfill['id']}", log, lambda: run_states(api))
    _, runs = api.call("GET", f"/dags/{DAG_ID}/dagRuns?limit=100")
    return [r for r in runs["dag_runs"] if r["run_type"] == "backfill"]


def test_rest_trigger_then_a_backfill_of_the_dates_before_then_an_idempotent_rerun(standalone, tmp_path):
    """One world of two dates, three runs: the last date triggered over REST as from the UI; a backfill of
    both with reprocess "none" runs only the one that never ran; a backfill re-running it with reprocess
    "completed" changes nothing, and no backfill moves CURRENT back."""
    api, log = standalone
    root = tmp_path / "world"
    world = build_demo_world(str(root), users=30, items=8, days=2, end_date="2026-11-20", progress=False)
    first, last = world.dates
    status, body = api.call("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200, body
    status, run = api.call("POST", f"/dags/{DAG_ID}/dagRuns",
                           {"logical_date": f"{last}T00:00:00Z", "conf": {"root": str(root), "shards": 2}})
    assert status == 200, run
    final = wait_for_run(api, log, run["dag_run_id"])
    assert final["state"] == "success", log.read_text()[-6000:]
    current = json.loads((root / "catalog/CURRENT").read_text())
    assert current["date"] == last
    rows = pq.read_table(current["manifest"].removeprefix("file://")).to_pylist()
    assert rows and all(Path(r["thumbnail_uri"].removeprefix("file://")).is_file() for r in rows)

    runs = _backfill(api, log, root, first, last, "none")
    by_date = {r["logical_date"][:10]: r["state"] for r in runs}
    assert by_date == {first: "success"}, log.read_text()[-6000:]
    for date in world.dates:
        assert _manifest_rows(root, date), date
    assert json.loads((root / "catalog/CURRENT").read_text())["date"] == last, "a backfill moved CURRENT back"

    before = _manifest_rows(root, first)
    assets = sorted(p.name for p in (root / "catalog/assets").iterdir())
    _backfill(api, log, root, first, first, "completed")
    assert _manifest_rows(root, first) == before
    assert sorted(p.name for p in (root / "catalog/assets").iterdir()) == assets
    assert json.loads((root / "catalog/CURRENT").read_text())["date"] == last, "a backfill moved CURRENT back"


def test_a_missing_gpu_pool_fails_the_run_at_once_naming_the_fix(standalone, tmp_path):
    """Without the pool, Airflow would leave frames Scheduled forever: preflight fails first, and says how."""
    api, log = standalone
    api.call("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    status, body = api.call("DELETE", "/pools/gpu")
    assert status == 204, body
    try:
        status, run = api.call("POST", f"/dags/{DAG_ID}/dagRuns", {
            "logical_date": "2026-11-10T00:00:00Z", "conf": {"root": str(tmp_path / "nothing-yet")}})
        assert status == 200, run
        final = wait_for_run(api, log, run["dag_run_id"], 300)
        assert final["state"] == "failed"
        _, preflight = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/preflight")
        assert preflight["state"] == "failed", preflight
        _, frames = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/frames")
        assert frames["state"] == "upstream_failed", frames
        _, logs = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/preflight/logs/1"
                                  "?full_content=true")
        assert "airflow pools set gpu" in json.dumps(logs)
        summary = json.loads(wait_for_file("attempt=*/failure.json", tmp_path / "nothing-yet/reports", log).read_text())
        assert summary["failed_tasks"] == ["preflight"] and "pool 'gpu' does not exist" in summary["errors"]["preflight"]
    finally:
        api.call("POST", "/pools", {"name": "gpu", "slots": 1, "description": "GPU generation and embedding"})
