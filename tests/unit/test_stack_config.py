"""``generec stack``'s wiring, without starting anything: what each process is told, and where secrets live.

The stack itself (real engines, faults) is proved by tests/stack/.
"""

from __future__ import annotations

import json
import stat

from jobs.stack import GPU_SLOTS, SPARK_CONN_ID, Stack, worker_name


def test_secrets_are_generated_once_kept_private_and_never_in_the_state_file(tmp_path):
    stack = Stack(tmp_path)
    env = stack.airflow_env()
    again = Stack(tmp_path).airflow_env()
    assert env["AWS_SECRET_ACCESS_KEY"] == again["AWS_SECRET_ACCESS_KEY"]  # stable across invocations
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == again["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    state = (tmp_path / "stack.json").read_text()
    assert env["AWS_SECRET_ACCESS_KEY"] not in state and env["AIRFLOW__API_AUTH__JWT_SECRET"] not in state
    assert Stack(tmp_path / "other").secrets["s3_secret_key"] != stack.secrets["s3_secret_key"]


def test_airflow_runs_celery_on_postgres_and_submits_spark_stages_to_the_standalone_master(tmp_path):
    stack = Stack(tmp_path)
    env = stack.airflow_env()
    ports = stack.ports
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://127.0.0.1:{ports['redis']}/0"
    assert env["GENEREC_SPARK_CONN_ID"] == SPARK_CONN_ID
    conn = json.loads(env["AIRFLOW_CONN_" + SPARK_CONN_ID.upper()])
    assert (conn["host"], conn["port"]) == ("spark://127.0.0.1", ports["spark"])
    assert env["GENEREC_ROOT"].startswith("s3://")
    assert len(set(ports.values())) == len(ports)  # every service on its own port


def test_each_queue_has_its_own_named_worker(tmp_path, monkeypatch):
    services = {s.name: s for s in Stack(tmp_path).services()}
    gpu, default = services["worker-gpu"], services["worker-default"]
    assert gpu.command[gpu.command.index("--queues") + 1] == "gpu"
    assert gpu.command[gpu.command.index("--concurrency") + 1] == str(GPU_SLOTS)
    assert default.command[default.command.index("--queues") + 1] == "default"
    assert gpu.env["GENEREC_WORKER_NAME"] == "worker-gpu" and default.env["GENEREC_WORKER_NAME"] == "worker-default"
    monkeypatch.setenv("GENEREC_WORKER_NAME", "worker-gpu")
    assert worker_name().startswith("worker-gpu@")  # what a task instance records as its hostname


def test_down_with_nothing_started_stops_nothing(tmp_path):
    assert Stack(tmp_path).down() == []
    assert all(not row["running"] for row in Stack(tmp_path).status())


def test_ports_chosen_by_another_process_are_read_back_not_chosen_again(tmp_path):
    seen_early = Stack(tmp_path)  # e.g. a test's handle, made before `generec stack up` ran
    chosen = Stack(tmp_path).ports  # `up`, in another process, chooses and saves them
    assert seen_early.ports == chosen


def test_a_killed_process_group_is_down_even_before_its_parent_reaps_it(tmp_path):
    """A SIGKILLed worker lingers as a zombie until reaped: `up` must see it down and start it again."""
    import subprocess
    import time

    from jobs.stack import _group_alive

    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    assert _group_alive(child.pid)
    child.kill()
    time.sleep(0.5)  # not waited for: a zombie
    assert not _group_alive(child.pid)
    child.wait()
