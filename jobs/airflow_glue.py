"""What the nightly DAG's tasks need from Airflow and nothing else does: params -> typed config,
connection -> boto3 credentials, verdict -> no retry, stage -> spark-submit.

Kept out of ``dags/generec_nightly.py`` so that file reads as wiring, and out of
``generec_core`` because the library never imports Airflow.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, Connection, get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from generec_core.config import GenerationConfig, PipelineConfig
from generec_core.datasets.layout import run_id_for
from generec_core.expectations import DataQualityError
from generec_core.stage_graph import parse_stages

REPO_DIR = Path(__file__).resolve().parents[1]
SPARK_JOBS = {"ingest": "jobs/ingest_interactions.py", "features": "jobs/build_user_features.py"}


def run_inputs(stage: str, *also: str) -> tuple[PipelineConfig, str]:
    """The typed config from the run's params, and the day to process; skips deselected stages."""
    ctx = get_current_context()
    params = ctx["params"]
    if not {stage, *also} & set(parse_stages(params.get("stages"))):
        raise AirflowSkipException(f"stage {stage!r} not selected for this run")
    export_aws_connection(params.get("aws_conn_id") or "")
    return config_from_params(params), ctx["ds"]


def config_overrides(params: dict) -> dict:
    """The config sections the run's params override (in-process tasks and spark-submit jobs alike)."""
    return {"features": {"shards": int(params["shards"]), "top_k": int(params["top_k"])},
            "generation": {"backend": params.get("generator_backend", GenerationConfig.backend),
                           "model": params.get("generator_model", ""),
                           "edit_clips": params.get("edit_clips", GenerationConfig.edit_clips)},
            "run": {"users": list(params.get("users") or []), "dry_run": bool(params.get("dry_run", False))}}


def config_from_params(params: dict) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": params["root"], **config_overrides(params)})


def config_json(params: dict) -> str:
    """The overrides as the ``--config`` argument of a spark-submit job (a DAG macro)."""
    return json.dumps(config_overrides(params), sort_keys=True)


def export_aws_connection(conn_id: str) -> None:
    """Expose an Airflow AWS connection to boto3's standard chain (env vars) for this task's process.

    generec_core never imports Airflow: it reads credentials the boto3 way. Nothing here logs
    or returns a secret; a role-based connection is refused rather than silently ignored.
    """
    if not conn_id:
        return
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    aws = AwsConnectionWrapper(Connection.get(conn_id))
    if aws.role_arn:
        raise ValueError(f"Airflow connection {conn_id!r} uses role_arn; give the worker that role instead")
    exported = {"AWS_ACCESS_KEY_ID": aws.aws_access_key_id, "AWS_SECRET_ACCESS_KEY": aws.aws_secret_access_key,
                "AWS_SESSION_TOKEN": aws.aws_session_token, "AWS_DEFAULT_REGION": aws.region_name,
                "AWS_ENDPOINT_URL": aws.endpoint_url, "AWS_PROFILE": aws.profile_name}
    for key, value in exported.items():
        if value:
            os.environ[key] = str(value)
        else:
            os.environ.pop(key, None)


@contextmanager
def verdict_is_final(applies: bool = True) -> Iterator[None]:
    """A failed data-quality or fidelity gate is a verdict on the data, not a transient error: fail, no retry."""
    try:
        yield
    except DataQualityError as exc:
        if not applies:
            raise
        raise AirflowFailException(str(exc)) from exc


def announce_catalog(asset: Asset, config: PipelineConfig, date: str, summary: dict) -> None:
    """Tell downstream DAGs (``schedule=[asset]``) what a publish committed; a dry run commits nothing."""
    if summary.get("manifest") is None:
        return
    get_current_context()["outlet_events"][asset].extra = {
        "root": config.root, "date": date, "run_id": run_id_for(date),
        "manifest": summary["manifest"], "current_moved": summary["current_moved"]}


class StageSparkSubmit(SparkSubmitOperator):
    """spark-submit of a stage's job in jobs/; skipped, like the in-process tasks, when deselected."""

    def __init__(self, *, stage: str, conn_id: str, **kwargs):
        super().__init__(
            task_id=stage, conn_id=conn_id, name=f"generec-{stage}", application=str(REPO_DIR / SPARK_JOBS[stage]),
            application_args=["--root", "{{ params.root }}", "--date", "{{ ds }}",
                              "--config", "{{ generec_config_json(params) }}"], **kwargs)
        self.stage = stage

    def execute(self, context):
        if self.stage not in parse_stages(context["params"].get("stages")):
            raise AirflowSkipException(f"stage {self.stage!r} not selected for this run")
        return super().execute(context)
