"""The production topology on real engines: ``generec stack up`` (PostgreSQL, Redis, SeaweedFS,
a Spark standalone master and two workers, Airflow 3 with the CeleryExecutor and two Celery
workers), the nightly DAG triggered over the REST API on an ``s3://`` root, with faults.

One run proves it all, to keep the tier's cost to one stack run and one in-process run:

- while the run goes, a Spark worker is SIGKILLed during the ``ingest`` application (Spark must
  reschedule on the other worker: the task succeeds on its first try), the default Celery
  worker is SIGKILLed while it runs ``publish`` or ``evaluate`` (and restarted), and the gpu
  worker is SIGKILLed while it runs a mapped ``personalise`` task (and restarted; every mapped
  task is a GPU task): Airflow notices the lost heartbeats and retries those tasks;
- the run still succeeds; every gpu-pool task ran on the ``gpu`` queue, on the gpu worker;
  the Spark stages are completed applications on the standalone master;
- and its catalog equals the in-process run's (``generec catalog diff``: no change).

The stack is always torn down, by process group, even when an assertion fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from postgres_server import missing as postgres_missing

from generec_core.demo.world import build_demo_world
from jobs.stack import BUCKET, Stack

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "generec_nightly"
WORLD = {"users": 40, "items": 12, "days": 2}
SHARDS = 2
pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _missing() -> str | None:
    if not shutil.which("redis-server"):
        return "redis-server (apt-get install redis-server)"
    postgres = postgres_missing()
    if postgres:
        return postgres
    try:
        import airflow.providers.celery  # noqa: F401
        import asyncpg  # noqa: F401
    except ImportError as exc:
        return f"the deploy extra ({exc.name}): pip install -e '.[deploy]'"
    return None


def _generec(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


class Api:
    def __init__(self, base: str) -> None:
        self.base = base + "/api/v2"

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def task_instances(self, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=500")["task_instances"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    missing = _missing()
    if missing:
        pytest.skip(f"the stack tier needs {missing}")
    state = tmp_path_factory.mktemp("stack")
    # the killed workers' tasks must be retried, which a few seconds' delay shows as well as the production minute
    # (60-120 s per killed task with Airflow's jitter)
    env = {**os.environ, "GENEREC_NIGHTLY_CRON": "off", "GENEREC_RETRY_DELAY_S": "5", "PYTHONPATH": str(REPO)}
    try:
        up = _generec("stack", "up", "--dir", str(state), env=env, timeout=600)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-5000:]
        stack = Stack(state)  # what `up` started, read back from the state directory
        api = Api(stack.api_url)
        _until(lambda: _dag_parsed(api), 300, "the DAG to be parsed", stack)
        yield stack, api, env
    finally:
        _generec("stack", "down", "--dir", str(state), env=env, timeout=120)


def _dag_parsed(api: Api) -> bool:
    try:
        api.call("GET", f"/dags/{DAG_ID}")
        return True
    except OSError:
        return False


def _until(predicate, timeout: float, what: str, stack: Stack):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(2)
    logs = "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in (stack.dir / "logs").glob("*.log"))
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def _spark_apps(stack: Stack) -> dict:
    with urllib.request.urlopen(stack.spark_status_url, timeout=10) as resp:
        return json.loads(resp.read())


class Faults:
    """Each fault fires once, when its moment comes, while the test polls the run."""

    def __init__(self, stack: Stack, api: Api, env: dict[str, str], run_id: str) -> None:
        self.stack, self.api, self.env, self.run_id = stack, api, env, run_id
        self.fired: dict[str, dict] = {}

    def poll(self) -> None:
        if "spark-worker" not in self.fired:
            active = [a["name"] for a in _spark_apps(self.stack)["activeapps"]]
            if "generec-ingest" in active:
                time.sleep(5)  # let the application's executors start on both workers
                self._kill("spark-worker", "spark-worker-1", restart=False)
        running = {t["task_id"]: t for t in self.api.task_instances(self.run_id) if t["state"] == "running"}
        late = [running[t] for t in ("publish", "evaluate") if t in running]  # each runs alone on the worker
        if "worker-default" not in self.fired and late:
            self._kill("worker-default", "worker-default", task=late[0])
        if "worker-gpu" not in self.fired and "personalise" in running:
            self._kill("worker-gpu", "worker-gpu", task=running["personalise"])

    def _kill(self, fault: str, service: str, *, restart: bool = True, task: dict | None = None) -> None:
        self.stack.kill(service)
        self.fired[fault] = {"service": service, "task": task and (task["task_id"], task["map_index"]),
                             "at": time.time()}
        if restart:  # a supervisor (systemd, Kubernetes) would bring it back; `up` starts what is down
            up = _generec("stack", "up", "--dir", str(self.stack.dir), env=self.env, timeout=600)
            assert up.returncode == 0, up.stderr[-3000:]


def test_a_rest_triggered_run_survives_killed_workers_and_matches_the_in_process_catalog(stack, tmp_path,
                                                                                         monkeypatch):
    stack, api, env = stack
    s3_env = {**env, **stack.s3_env()}
    in_process_root, stack_root = f"s3://{BUCKET}/in-process", f"s3://{BUCKET}/stack"
    # the baseline: the same world run in-process (dag.test(), local Spark), beside the stack's run
    baseline = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "demo", "--root", in_process_root, "--shards", str(SHARDS),
         *[f"--{k}={v}" for k, v in WORLD.items()]],
        cwd=REPO, env={**s3_env, "GENEREC_AIRFLOW_HOME": str(tmp_path / "airflow-in-process")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for key, value in stack.s3_env().items():
        monkeypatch.setenv(key, value)
    date = build_demo_world(stack_root, progress=False, **WORLD).dates[-1]

    api.call("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    run = api.call("POST", f"/dags/{DAG_ID}/dagRuns",
                   {"logical_date": f"{date}T00:00:00Z", "conf": {"root": stack_root, "shards": SHARDS}})
    faults = Faults(stack, api, env, run["dag_run_id"])

    def finished():
        faults.poll()
        state = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}")["state"]
        return state if state in ("success", "failed") else None

    state = _until(finished, 2400, "the stack's DAG run", stack)
    tis = api.task_instances(run["dag_run_id"])
    placement = sorted((t["task_id"], t["map_index"], t["queue"], t["hostname"], t["try_number"], t["state"])
                       for t in tis)
    print("placement:", json.dumps(placement), "faults:", json.dumps(faults.fired))
    assert state == "success", placement

    # placement: every gpu-pool task on the gpu queue, executed by the gpu worker; the rest by the default one
    ran = [t for t in tis if t["state"] == "success"]
    on_gpu = [t for t in ran if t["pool"] == "gpu"]
    assert {t["task_id"] for t in on_gpu} >= {"frames", "personalise", "generate", "create", "audit"}
    assert all(t["queue"] == "gpu" and t["hostname"].startswith("worker-gpu@") for t in on_gpu), placement
    assert all(t["queue"] == "default" and t["hostname"].startswith("worker-default@")
               for t in ran if t["pool"] != "gpu"), placement

    # the faults fired, and the killed Celery workers' tasks were retried to success
    assert set(faults.fired) == {"spark-worker", "worker-default", "worker-gpu"}, faults.fired
    by_key = {(t["task_id"], t["map_index"]): t for t in tis}
    for fault in ("worker-default", "worker-gpu"):
        task = by_key[tuple(faults.fired[fault]["task"])]
        assert task["state"] == "success" and task["try_number"] >= 2, task

    # Spark: both stages are completed applications of the standalone master; the ingest that lost
    # a worker was rescheduled by Spark itself (Airflow's first try succeeded)
    apps = _spark_apps(stack)
    completed = {(a["name"], a["state"]) for a in apps["completedapps"]}
    assert {("generec-ingest", "FINISHED"), ("generec-features", "FINISHED")} <= completed, apps
    assert by_key[("ingest", -1)]["try_number"] == 1
    assert any(w["state"] == "DEAD" for w in apps["workers"]), apps["workers"]

    # the same catalog as the in-process run of the same world
    out, _ = baseline.communicate(timeout=1800)
    assert baseline.returncode == 0, out[-6000:]
    diff = _generec("catalog", "diff", "--root", stack_root, f"nightly-{date}", f"nightly-{date}",
                    "--root-b", in_process_root, "--json", env=s3_env)
    assert diff.returncode == 0, diff.stderr
    summary = json.loads(diff.stdout)["summary"]
    assert (summary["added"], summary["removed"], summary["changed"]) == (0, 0, 0), diff.stdout[-3000:]
    assert summary["unchanged"] > 0
