"""What the DAG's tasks decide before and around a stage: unknown conf keys, which failures retry and when."""

from __future__ import annotations

import importlib.util
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from generec_core import pipeline
from generec_core.expectations import DataQualityError
from generec_core.stage_graph import BY_NAME, FAN_OUTS, STAGES
from jobs import airflow_api
from jobs.airflow_glue import (
    IN_PROCESS_RUN,
    config_from_params,
    failures_are_final,
    refuse_unknown_conf,
    require_pools,
)

PARAMS = {"root": "file:///tmp/x", "stages": [], "shards": 2, "top_k": 5, "dry_run": False,
          "aws_conn_id": None, "generator_model": None, "generator_backend": "neural-style", "users": []}


def test_a_typo_in_the_conf_is_refused_naming_it():
    refuse_unknown_conf({"root": "file:///tmp/y", "dry_run": True}, PARAMS)
    refuse_unknown_conf(None, PARAMS)
    with pytest.raises(AirflowFailException, match=r"unknown conf keys \['dryrun'\]"):
        refuse_unknown_conf({"dryrun": True, "root": "file:///tmp/y"}, PARAMS)


@pytest.mark.parametrize("error", [KeyError("manifest"), TypeError("bad arg"), AttributeError("x")])
def test_programming_errors_fail_without_retry(error):
    with pytest.raises(AirflowFailException, match=type(error).__name__):
        with failures_are_final(verdict=False):
            raise error


def test_verdicts_fail_without_retry_only_where_the_stage_gives_verdicts():
    with pytest.raises(AirflowFailException):
        with failures_are_final(verdict=True):
            raise DataQualityError({"suite": "gate", "critical_failures": ["pass rate"]})
    with pytest.raises(DataQualityError):
        with failures_are_final(verdict=False):
            raise DataQualityError({"suite": "gate", "critical_failures": ["pass rate"]})


def test_transient_errors_still_retry():
    with pytest.raises(ConnectionResetError):
        with failures_are_final(verdict=True):
            raise ConnectionResetError("object store hiccup")


def test_null_params_mean_the_defaults():
    config = config_from_params(PARAMS, "manual__2026-11-24")
    assert config.generation.model == "" and config.run.attempt == "manual__2026-11-24"


def test_one_shards_param_sizes_every_fan_out():
    """Worklist shards (Spark), item shards (frames) and asset shards (audit, and the gate reading them)."""
    config = config_from_params({**PARAMS, "shards": 3})
    assert config.features.shards == config.frames.shards == config.gate.shards == 3
    assert pipeline.shards_to_run(config, "2026-11-24", "items") == [0, 1, 2]
    assert pipeline.shards_to_run(config, "2026-11-24", "assets") == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown fan-out"):
        pipeline.shards_to_run(config, "2026-11-24", "users")


def test_the_heavy_stages_are_mapped_on_the_gpu_and_the_gate_decides_once():
    mapped = {s.name: s.shards for s in STAGES if s.per_shard}
    assert mapped == {"frames": "items", "personalise": "worklist", "generate": "worklist", "audit": "assets"}
    assert set(mapped.values()) == set(FAN_OUTS)
    assert all(BY_NAME[name].accelerator for name in mapped)
    gate = BY_NAME["gate"]
    assert not gate.per_shard and gate.verdict and gate.upstream == ("audit",) and "audit" in gate.reads
    assert BY_NAME["audit"].runs_with == ("gate",)  # re-running the gate re-checks the assets


def test_pools_are_checked_except_in_the_in_process_run(monkeypatch, caplog):
    """A missing pool fails preflight naming the fix; an unanswerable check is logged as a warning; ``generec run``
    (dag.test(), which queues no task on a pool and has no API server to ask) checks nothing and warns of nothing."""
    monkeypatch.delenv(IN_PROCESS_RUN, raising=False)
    answers = {"gpu": False}
    monkeypatch.setattr(airflow_api, "pool_exists", lambda name: answers[name])
    with pytest.raises(AirflowFailException, match="airflow pools set gpu"):
        require_pools(["gpu"])
    answers["gpu"] = None
    with caplog.at_level(logging.INFO, logger="jobs.airflow_glue"):
        require_pools(["gpu"])
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "could not check" in caplog.text
    caplog.clear()
    monkeypatch.setenv(IN_PROCESS_RUN, "1")
    monkeypatch.setattr(airflow_api, "pool_exists", lambda name: pytest.fail("asked the API in an in-process run"))
    with caplog.at_level(logging.INFO, logger="jobs.airflow_glue"):
        require_pools(["gpu"])
    assert [r.levelname for r in caplog.records] == ["INFO"]


def _nightly_dag():
    """The DAG of dags/generec_nightly.py, imported as the DAG processor would (its settings are read at parse
    time)."""
    path = Path(__file__).resolve().parents[2] / "dags" / "generec_nightly.py"
    spec = importlib.util.spec_from_file_location("generec_nightly_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generec_nightly()


def test_the_retry_delay_is_a_minute_unless_the_deployment_sets_it(monkeypatch):
    monkeypatch.delenv("GENEREC_RETRY_DELAY_S", raising=False)
    dag = _nightly_dag()
    assert dag.default_args["retry_delay"] == timedelta(minutes=1)
    assert all(t.retry_delay == timedelta(minutes=1) for t in dag.tasks if t.retries)
    monkeypatch.setenv("GENEREC_RETRY_DELAY_S", "5")
    assert _nightly_dag().get_task("publish").retry_delay == timedelta(seconds=5)
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("GENEREC_RETRY_DELAY_S", bad)
        with pytest.raises(ValueError, match=f"GENEREC_RETRY_DELAY_S .* got '{bad}'"):
            _nightly_dag()
