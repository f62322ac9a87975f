"""GeneRec nightly pipeline: this file only wires stages from generec_core.pipeline.

ingest ─┬─ instruct ─┐  (guidance: read by personalise and generate)
        ├─ features ─┴─ personalise[shard 0..n] ─ generate[shard 0..n] ─ gate ─ publish ─ evaluate ─ report
frames ─┘

The logical date's data interval is the day processed. Every task can be switched off by
the ``stages`` param (re-running one stage on a date's existing inputs); a switched-off task
is skipped and its downstream still runs. The report is a teardown: it runs whatever
happened upstream, and a failed gate still fails the DAG run.

ingest and features end with their great-expectations gate: a failed critical expectation
fails the task without retry, so nothing downstream (publish) runs. They run in-process
(local Spark) unless GENEREC_SPARK_CONN_ID names an Airflow Spark connection: then they are
spark-submit of jobs/ on that cluster (the same pipeline functions).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task, teardown
from airflow.sdk import Asset, AsyncCallback, Connection, DeadlineAlert, DeadlineReference
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from jobs.airflow_callbacks import deadline_missed, write_failure_summary
from generec_core import pipeline
from generec_core.config import PipelineConfig, default_root
from generec_core.expectations import DataQualityError
from generec_core.layout import run_id_for

GPU_POOL = "gpu"
# When the nightly run fires (UTC cron; it processes the day that just ended). "off" leaves
# only manual triggers and backfills, e.g. for a staging deployment or the scheduler test.
NIGHTLY_CRON = os.environ.get("GENEREC_NIGHTLY_CRON", "0 0 * * *")
# Updated by every successful publish (extra: root, date, run_id, manifest, current_moved):
# downstream DAGs schedule on it with ``schedule=[CATALOG_ASSET]``.
CATALOG_ASSET = Asset("generec_catalog")
# The one switch for the Spark stages, read when the DAG is parsed (it changes the operators):
# empty = in-process local Spark; an Airflow Spark connection id = spark-submit to its master.
SPARK_CONN_ID = os.environ.get("GENEREC_SPARK_CONN_ID", "")
SPARK_JOBS = {"ingest": "jobs/ingest_interactions.py", "features": "jobs/build_user_features.py"}
REPO_DIR = Path(__file__).resolve().parents[1]


def _export_aws_connection(conn_id: str) -> None:
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


def _run_inputs(stage: str, *also: str) -> tuple[PipelineConfig, str]:
    """The typed config from the run's params, and the day to process; skips deselected stages."""
    ctx = get_current_context()
    params = ctx["params"]
    if not {stage, *also} & set(pipeline.parse_stages(params.get("stages"))):
        raise AirflowSkipException(f"stage {stage!r} not selected for this run")
    _export_aws_connection(params.get("aws_conn_id") or "")
    return _config(params), ctx["ds"]


def _deadline() -> list[DeadlineAlert]:
    """The catalog must be fresh by morning: alert when a run is still going N hours after queueing.

    GENEREC_DEADLINE_HOURS (default 6; "off" disables). The in-process runner (`generec run`)
    turns it off: Airflow 3.3.2's dag.test() crashes evaluating deadline alerts.
    """
    hours = os.environ.get("GENEREC_DEADLINE_HOURS", "6")
    if hours == "off":
        return []
    return [DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(hours=float(hours)),
                          callback=AsyncCallback(deadline_missed))]


def _overrides(params: dict) -> dict:
    """The config sections the run's params override (in-process tasks and spark-submit jobs alike)."""
    overrides = {"features": {"shards": int(params["shards"]), "top_k": int(params["top_k"])}}
    overrides["generation"] = {"backend": params.get("generator_backend", "restyle"),
                               "model": params.get("generator_model", "")}
    overrides["run"] = {"users": list(params.get("users") or []), "dry_run": bool(params.get("dry_run", False))}
    return overrides


def _config(params: dict) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": params["root"], **_overrides(params)})


@contextmanager
def _verdict_is_final():
    """A failed data-quality gate is a verdict on the data, not a transient error: fail, no retry."""
    try:
        yield
    except DataQualityError as exc:
        raise AirflowFailException(str(exc)) from exc


class StageSparkSubmit(SparkSubmitOperator):
    """spark-submit of a stage's job in jobs/; skipped, like the in-process tasks, when deselected."""

    def __init__(self, *, stage: str, **kwargs):
        super().__init__(
            task_id=stage, conn_id=SPARK_CONN_ID, name=f"generec-{stage}", application=str(REPO_DIR / SPARK_JOBS[stage]),
            application_args=["--root", "{{ params.root }}", "--date", "{{ ds }}",
                              "--config", "{{ generec_config_json(params) }}"], **kwargs)
        self.stage = stage

    def execute(self, context):
        if self.stage not in pipeline.parse_stages(context["params"].get("stages")):
            raise AirflowSkipException(f"stage {self.stage!r} not selected for this run")
        return super().execute(context)


@dag(
    dag_id="generec_nightly",
    description="Personalised thumbnails and clips for yesterday's users, gated and published to the catalog",
    schedule=None if NIGHTLY_CRON == "off" else CronDataIntervalTimetable(NIGHTLY_CRON, timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Transient errors (object store, executor hiccups) retry with exponential backoff; verdicts
    # (data-quality and fidelity gates) raise AirflowFailException and are never retried.
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True,
                  "max_retry_delay": timedelta(minutes=20), "execution_timeout": timedelta(hours=2),
                  "trigger_rule": "none_failed"},
    on_failure_callback=write_failure_summary,
    deadline=_deadline(),
    params={
        "root": Param(default_root(), type="string", description="Storage root URI (file:// or s3://)"),
        "stages": Param([], type="array", items={"type": "string", "enum": list(pipeline.STAGES)},
                        description="Stages to run; empty = all"),
        "shards": Param(4, type="integer", minimum=1, maximum=1024, description="Worklist shards (personalise fan-out)"),
        "top_k": Param(5, type="integer", minimum=1, maximum=100, description="Candidate items per user"),
        "generator_backend": Param("restyle", type="string", enum=["restyle", "diffusers", "none"],
                                   description="Thumbnail generator (restyle needs no weights)"),
        "aws_conn_id": Param(os.environ.get("GENEREC_AWS_CONN_ID", ""), type="string",
                             description="Airflow AWS connection for s3:// roots; empty = boto3's default chain"),
        "users": Param([], type="array", items={"type": "string", "minLength": 1},
                       description="Only personalise these user ids; empty = every user in the worklist"),
        "dry_run": Param(False, type="boolean", description="Run everything but publish (the catalog is untouched)"),
        "generator_model": Param("", type="string",
                                 description="diffusers: model id under $GENEREC_WEIGHTS_DIR, or a local directory"),
    },
    tags=["generec"],
    user_defined_macros={"generec_config_json": lambda params: json.dumps(_overrides(params), sort_keys=True)},
)
def generec_nightly():
    @task
    def ingest() -> dict:
        with _verdict_is_final():
            return pipeline.ingest(*_run_inputs("ingest"))

    @task
    def instruct() -> dict:  # users' instructions + feedback -> guidance the editor and generator read
        return pipeline.instruct(*_run_inputs("instruct"))

    @task(pool=GPU_POOL)
    def frames() -> dict:
        return pipeline.frames(*_run_inputs("frames"))

    @task
    def features() -> dict:
        with _verdict_is_final():
            return pipeline.features(*_run_inputs("features"))

    @task(trigger_rule="none_failed")
    def plan_shards() -> list[int]:
        """Never skipped: no shards (an empty expansion) is how the mapped stages skip cleanly."""
        params = get_current_context()["params"]
        if not {"personalise", "generate"} & set(pipeline.parse_stages(params.get("stages"))):
            return []
        config, date = _run_inputs("personalise", "generate")
        return pipeline.shards_to_run(config, date)

    @task(pool=GPU_POOL)
    def personalise(shard: int) -> dict:
        config, date = _run_inputs("personalise")
        return pipeline.personalise(config, date, shard)

    @task(pool=GPU_POOL)
    def generate(shard: int) -> dict:
        config, date = _run_inputs("generate")
        return pipeline.generate(config, date, shard)

    @task
    def gate() -> dict:
        with _verdict_is_final():  # a failed fidelity gate is a verdict, not a transient error
            return pipeline.gate(*_run_inputs("gate"))

    @task(outlets=[CATALOG_ASSET])
    def publish() -> dict:
        config, date = _run_inputs("publish")
        summary = pipeline.publish(config, date)
        get_current_context()["outlet_events"][CATALOG_ASSET].extra = {
            "root": config.root, "date": date, "run_id": run_id_for(date),
            "manifest": summary["manifest"], "current_moved": summary["current_moved"]}
        return summary

    @task
    def evaluate() -> dict:
        return pipeline.evaluate(*_run_inputs("evaluate"))

    @teardown  # runs whatever happened upstream, and does not mask a failed run as success
    def report() -> dict:
        return pipeline.report(*_run_inputs("report"))

    planned = plan_shards()
    if SPARK_CONN_ID:  # the same stages as spark-submit jobs on a cluster
        ingested, featured = StageSparkSubmit(stage="ingest"), StageSparkSubmit(stage="features")
    else:
        ingested, featured = ingest(), features()
    [ingested, frames()] >> featured >> planned
    ingested >> instruct() >> planned
    personalise.expand(shard=planned) >> generate.expand(shard=planned) >> gate() >> publish() >> evaluate() >> report()


generec_nightly()
