"""`generec catalog show|diff|gc` and the Airflow-connection credential path, on the real S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generec_core.config import PipelineConfig
from generec_core.stages.publish import publish
from staged_run import asset_keys, catalog_problems, stage_run

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.s3


def _generec(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def published(s3):
    """Two nights on S3; the second re-published with new content, so old assets are garbage."""
    server, root = s3
    stage_run(root, "2026-11-23", ["u1", "u2"], ["i1", "i2"])
    publish(PipelineConfig.from_dict({"root": root}), "2026-11-23")
    stage_run(root, "2026-11-24", ["u1", "u2", "u3"], ["i2", "i3"], version="v2")
    publish(PipelineConfig.from_dict({"root": root}), "2026-11-24")
    stage_run(root, "2026-11-24", ["u1", "u2", "u3"], ["i2", "i3"], version="v3")
    publish(PipelineConfig.from_dict({"root": root}), "2026-11-24")
    return server, root


def test_show_reads_the_live_manifest(published):
    server, root = published
    proc = _generec(["catalog", "show", "--root", root, "--user", "u1"], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["item_id"], r["date"]) for r in rows] == [("i2", "2026-11-24"), ("i3", "2026-11-24")]
    assert all(r["thumbnail_uri"].startswith(root + "/catalog/assets/") for r in rows)
    proc = _generec(["catalog", "show", "--root", root, "--user", "u1", "--item", "i1", "--run", "2026-11-23"],
                    dict(os.environ))
    assert [json.loads(line)["item_id"] for line in proc.stdout.splitlines()] == ["i1"]
    proc = _generec(["catalog", "show", "--root", root, "--user", "nobody"], dict(os.environ))
    assert proc.returncode == 1 and "no published rows" in proc.stderr


def test_catalog_commands_take_the_storage_settings_from_config(published):
    """No AWS_ENDPOINT_URL in the environment: the endpoint comes from --config, as a run's storage section."""
    server, root = published
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    config = json.dumps({"storage": {"endpoint_url": server.endpoint, "max_attempts": 2}})
    found = _generec(["catalog", "show", "--root", root, "--user", "u1", "--config", config], env)
    assert found.returncode == 0, found.stderr
    assert [json.loads(line)["item_id"] for line in found.stdout.splitlines()] == ["i2", "i3"]
    bad = _generec(["catalog", "gc", "--root", root, "--older-than", "1",
                    "--config", '{"storage": {"spark_io": "x"}}'], env)
    assert bad.returncode == 2 and "storage.spark_io" in bad.stderr


def test_diff_between_two_nights(published):
    _, root = published
    proc = _generec(["catalog", "diff", "--root", root, "2026-11-23", "nightly-2026-11-24", "--json"], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    counts = doc["summary"]
    assert (counts["added"], counts["removed"], counts["changed"], counts["unchanged"]) == (4, 2, 2, 0)
    assert doc["removed"] == [["u1", "i1"], ["u2", "i1"]]
    proc = _generec(["catalog", "diff", "--root", root, "2026-11-23", "2026-10-01"], dict(os.environ))
    assert proc.returncode == 2 and "no manifest for run '2026-10-01'" in proc.stderr


def test_gc_is_a_dry_run_until_applied(published):
    _, root = published
    before = asset_keys(root)
    proc = _generec(["catalog", "gc", "--root", root, "--older-than", "0"], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["garbage"] == 6 and not summary["applied"]  # v2's thumbnail, cover, clip of i2 and i3
    assert asset_keys(root) == before and "--apply" in proc.stderr
    kept = _generec(["catalog", "gc", "--root", root, "--older-than", "30", "--apply"], dict(os.environ))
    assert json.loads(kept.stdout.splitlines()[-1])["garbage"] == 0  # too young to go
    proc = _generec(["catalog", "gc", "--root", root, "--older-than", "0", "--apply"], dict(os.environ))
    assert json.loads(proc.stdout.splitlines()[-1])["garbage"] == 6
    assert len(asset_keys(root)) == len(before) - 6 and catalog_problems(root) == []


def test_wrong_credentials_fail_clearly_without_leaking(published):
    server, root = published
    wrong = "NotTheSecret0123456789abcdefABCDEF"
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": wrong}
    proc = _generec(["catalog", "show", "--root", root, "--user", "u1"], env)
    assert proc.returncode == 2
    assert "refused the credentials" in proc.stderr and root in proc.stderr
    for secret in (wrong, server.secret_key, server.access_key):
        assert secret not in proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1  # one line, no traceback


def test_an_airflow_connection_supplies_the_credentials(s3, tmp_path):
    """The DAG's tasks resolve ``aws_conn_id`` into boto3's env chain; generec_core itself never sees Airflow."""
    server, root = s3
    conn = {"conn_type": "aws", "login": server.access_key, "password": server.secret_key,
            "extra": {"endpoint_url": server.endpoint, "region_name": server.region}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW_CONN_GENEREC_TEST_S3": json.dumps(conn), "PYTHONPATH": str(REPO)})
    code = f"""
from jobs.airflow_glue import export_aws_connection
from generec_core.storage import StorageAuthError, read_text, write_text
try:
    write_text({root + '/probe.txt'!r}, "x")
except StorageAuthError as exc:
    print("before:", exc)
export_aws_connection("generec_test_s3")
write_text({root + '/probe.txt'!r}, "via connection")
print("after:", read_text({root + '/probe.txt'!r}))
try:
    export_aws_connection("missing_conn")
except Exception as exc:
    print("missing:", type(exc).__name__, exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "before:" in proc.stdout and "no usable AWS credentials" in proc.stdout
    assert "after: via connection" in proc.stdout
    assert "missing: AirflowNotFoundException" in proc.stdout
    assert server.secret_key not in proc.stdout + proc.stderr
