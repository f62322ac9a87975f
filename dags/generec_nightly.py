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

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, AsyncCallback, DeadlineAlert, DeadlineReference
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task, teardown

from generec_core import pipeline
from generec_core.config import default_root
from generec_core.layout import run_id_for
from jobs.airflow_callbacks import deadline_missed, write_failure_summary
from jobs.airflow_glue import StageSparkSubmit, config_json, run_inputs, verdict_is_final

# Tasks that want an accelerator: the `gpu` pool caps them at one per GPU, and the `gpu`
# queue routes them to the GPU workers (docker/gpu-worker.Dockerfile) under CeleryExecutor.
ON_GPU = {"pool": "gpu", "queue": "gpu"}
# When the nightly run fires (UTC cron; it processes the day that just ended). "off" leaves
# only manual triggers and backfills, e.g. for a staging deployment or the scheduler test.
NIGHTLY_CRON = os.environ.get("GENEREC_NIGHTLY_CRON", "0 0 * * *")
# Updated by every successful publish (extra: root, date, run_id, manifest, current_moved):
# downstream DAGs schedule on it with ``schedule=[CATALOG_ASSET]``.
CATALOG_ASSET = Asset("generec_catalog")
# The one switch for the Spark stages, read when the DAG is parsed (it changes the operators):
# empty = in-process local Spark; an Airflow Spark connection id = spark-submit to its master.
SPARK_CONN_ID = os.environ.get("GENEREC_SPARK_CONN_ID", "")


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
    user_defined_macros={"generec_config_json": config_json},
)
def generec_nightly():
    @task
    def ingest() -> dict:
        with verdict_is_final():
            return pipeline.ingest(*run_inputs("ingest"))

    @task
    def instruct() -> dict:  # users' instructions + feedback -> guidance the editor and generator read
        return pipeline.instruct(*run_inputs("instruct"))

    @task(**ON_GPU)
    def frames() -> dict:
        return pipeline.frames(*run_inputs("frames"))

    @task
    def features() -> dict:
        with verdict_is_final():
            return pipeline.features(*run_inputs("features"))

    @task(trigger_rule="none_failed")
    def plan_shards() -> list[int]:
        """Never skipped: no shards (an empty expansion) is how the mapped stages skip cleanly."""
        params = get_current_context()["params"]
        if not {"personalise", "generate"} & set(pipeline.parse_stages(params.get("stages"))):
            return []
        config, date = run_inputs("personalise", "generate")
        return pipeline.shards_to_run(config, date)

    @task(**ON_GPU)
    def personalise(shard: int) -> dict:
        config, date = run_inputs("personalise")
        return pipeline.personalise(config, date, shard)

    @task(**ON_GPU)
    def generate(shard: int) -> dict:
        config, date = run_inputs("generate")
        return pipeline.generate(config, date, shard)

    @task(**ON_GPU)  # embeds every asset and runs the NSFW classifier
    def gate() -> dict:
        with verdict_is_final():  # a failed fidelity gate is a verdict, not a transient error
            return pipeline.gate(*run_inputs("gate"))

    @task(outlets=[CATALOG_ASSET])
    def publish() -> dict:
        config, date = run_inputs("publish")
        summary = pipeline.publish(config, date)
        get_current_context()["outlet_events"][CATALOG_ASSET].extra = {
            "root": config.root, "date": date, "run_id": run_id_for(date),
            "manifest": summary["manifest"], "current_moved": summary["current_moved"]}
        return summary

    @task
    def evaluate() -> dict:
        return pipeline.evaluate(*run_inputs("evaluate"))

    @teardown  # runs whatever happened upstream, and does not mask a failed run as success
    def report() -> dict:
        return pipeline.report(*run_inputs("report"))

    planned = plan_shards()
    if SPARK_CONN_ID:  # the same stages as spark-submit jobs on a cluster
        ingested, featured = StageSparkSubmit(stage="ingest", conn_id=SPARK_CONN_ID), StageSparkSubmit(stage="features", conn_id=SPARK_CONN_ID)
    else:
        ingested, featured = ingest(), features()
    [ingested, frames()] >> featured >> planned
    ingested >> instruct() >> planned
    personalise.expand(shard=planned) >> generate.expand(shard=planned) >> gate() >> publish() >> evaluate() >> report()


generec_nightly()
