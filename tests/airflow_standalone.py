"""`airflow standalone` (scheduler, DAG processor, API server, triggerer) on 127.0.0.1 with a
temporary AIRFLOW_HOME, for the tests that need a real deployment in miniature: the REST API
tests (tests/integration/test_scheduler.py) and the browser tests (tests/ui/).

Only our own triggers and backfills run: the scheduler creates no scheduled runs
(USE_JOB_SCHEDULE=False), while the DAG keeps its nightly timetable (backfills need it).
The metadata DB is a throwaway PostgreSQL (tests/postgres_server.py), as in production:
Airflow refuses backfills on SQLite under concurrent access.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import missing, postgres_database

from jobs.stack import free_port

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "generec_nightly"


class Api:
    """The REST API (/api/v2) of the standalone server; every user is an admin, so no token."""

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


def _wait(predicate, timeout: float, what: str, log: Path, describe=None):
    """Poll ``predicate`` every 3 s until it returns something truthy; on timeout fail with ``describe()``
    (what the scheduler made of it, e.g. task states) and the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(3)
    state = ""
    if describe is not None:
        try:
            state = f"; {describe()}"
        except Exception as exc:  # noqa: BLE001 - describing must never hide the timeout itself
            state = f"; (state unavailable: {type(exc).__name__}: {exc})"
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{state}; log tail:\n{log.read_text()[-4000:]}")


def run_states(api: Api) -> str:
    """Every run of ``DAG_ID`` and its unfinished tasks: what a timeout message needs to say."""
    _, runs = api.call("GET", f"/dags/{DAG_ID}/dagRuns?limit=100")
    lines = []
    for run in runs.get("dag_runs", []):
        _, tis = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances?limit=500")
        open_tasks = sorted(f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis.get("task_instances", [])
                            if t["state"] not in ("success", "skipped"))
        lines.append(f"{run['dag_run_id']} ({run['run_type']}): {run['state']} {' '.join(open_tasks)}")
    return "runs: " + " | ".join(lines)


def wait_for_run(api: Api, log: Path, run_id: str, timeout: float = 900) -> dict:
    """Wait until a DAG run of ``DAG_ID`` has finished (success or failed) and return it."""
    def finished():
        _, current = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        return current if current.get("state") in ("success", "failed") else None

    return _wait(finished, timeout, f"DAG run {run_id}", log, lambda: run_states(api))


def wait_for_file(pattern: str, folder: Path, log: Path, timeout: float = 120) -> Path:
    """Wait for a file the DAG processor writes after a run ends (the DAG's failure callback runs there,
    asynchronously, so a run can read ``failed`` before its summary exists)."""
    return _wait(lambda: next(folder.glob(pattern), None), timeout, f"{folder}/{pattern}", log)


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


@contextlib.contextmanager
def run_standalone(home: Path, extra_env: dict[str, str] | None = None) -> Iterator[tuple[Api, Path, int]]:
    """Start `airflow standalone` with AIRFLOW_HOME=``home``; yield ``(api, log, port)`` once the DAG is
    parsed and the `gpu` pool exists; stop the whole process group on exit.

    ``extra_env`` is added to (and overrides) the environment, e.g. GENEREC_ROOT for the params' defaults.
    """
    absent = missing()
    if absent:
        pytest.skip(f"the Airflow standalone tests need {absent}")
    with postgres_database() as db_url:
        yield from _standalone(home, db_url, extra_env)


def _standalone(home: Path, db_url: str, extra_env: dict[str, str] | None) -> Iterator[tuple[Api, Path, int]]:
    port = free_port()
    env = {**os.environ,
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
           "AIRFLOW__CORE__PARALLELISM": "2", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
           "SPARK_LOCAL_IP": "127.0.0.1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           **(extra_env or {})}
    log = home / "standalone.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["airflow", "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    api = Api(port)
    try:
        _wait(lambda: api.call("GET", f"/dags/{DAG_ID}")[0] == 200, 300, "the DAG to be parsed", log)
        subprocess.run(["airflow", "pools", "set", "gpu", "1", "GPU generation and embedding"], env=env,
                       check=True, capture_output=True, timeout=120)
        yield api, log, port
    finally:
        _stop_group(proc)
