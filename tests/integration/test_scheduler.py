"""A real Airflow deployment in miniature: `airflow standalone` (scheduler, DAG processor,
API server, triggerer) on 127.0.0.1 with a temporary AIRFLOW_HOME; the DAG is triggered
through the REST API with params, like a person in the UI would, and must succeed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generec_core.demo.world import build_demo_world

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "generec_nightly"
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v2"

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


def _wait(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; log tail:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    port = _free_port()
    env = {**os.environ,
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
           "AIRFLOW__CORE__PARALLELISM": "2", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "GENEREC_NIGHTLY_CRON": "off",  # only our trigger runs: no scheduled run races it
           "SPARK_LOCAL_IP": "127.0.0.1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = home / "standalone.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["airflow", "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    api = Api(port)
    try:
        _wait(lambda: api.call("GET", f"/dags/{DAG_ID}")[0] == 200, 300, "the DAG to be parsed", log)
        subprocess.run(["airflow", "pools", "set", "gpu", "1", "GPU generation and embedding"], env=env,
                       check=True, capture_output=True, timeout=120)
        yield api, log
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    """Airflow standalone forks several servers: stop the whole process group, TERM then KILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def test_bad_param_is_refused_at_trigger_time(standalone):
    api, _ = standalone
    status, body = api.call("POST", f"/dags/{DAG_ID}/dagRuns",
                            {"logical_date": "2026-11-20T00:00:00Z", "conf": {"shards": 0}})
    assert status == 400, body
    assert "shards" in json.dumps(body)


def test_rest_triggered_run_succeeds_and_publishes(standalone, tmp_path):
    api, log = standalone
    root = tmp_path / "world"
    world = build_demo_world(str(root), users=30, items=8, days=2, progress=False)
    date = world.dates[-1]
    status, body = api.call("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200, body
    status, run = api.call("POST", f"/dags/{DAG_ID}/dagRuns",
                           {"logical_date": f"{date}T00:00:00Z", "conf": {"root": str(root), "shards": 2}})
    assert status == 200, run
    run_id = run["dag_run_id"]

    def finished():
        _, current = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        return current if current.get("state") in ("success", "failed") else None

    final = _wait(finished, 900, f"DAG run {run_id}", log)
    assert final["state"] == "success", log.read_text()[-6000:]
    current = json.loads((root / "catalog/CURRENT").read_text())
    assert current["date"] == date
    rows = pq.read_table(current["manifest"].removeprefix("file://")).to_pylist()
    assert rows and all(Path(r["thumbnail_uri"].removeprefix("file://")).is_file() for r in rows)
