"""GeneRec nightly pipeline: this file only wires the stages listed in generec_core/stage_graph.py.

ingest ─┬─ instruct ─┐  (guidance: read by personalise and generate)
        ├─ features ─┴─ personalise[shard 0..n] ─ generate[shard 0..n] ─ gate ─ publish ─ evaluate ─ report
frames ─┘

The graph above is data (``generec_core.stage_graph.STAGES``: each stage's upstream, whether it
runs per shard, needs an accelerator, is a Spark job, may fail a verdict); each task runs
``generec_core.pipeline.run_stage``. The logical date's data interval is the day processed.
Every task can be switched off by the ``stages`` param (re-running one stage on a date's
existing inputs); a switched-off task is skipped and its downstream still runs. The report is
a teardown: it runs whatever happened upstream, and a failed gate still fails the DAG run.

Verdict stages (ingest and features end with their great-expectations gate; the fidelity gate)
fail without retry, so nothing downstream (publish) runs. The Spark stages run in-process
(local Spark) unless GENEREC_SPARK_CONN_ID names an Airflow Spark connection: then they are
spark-submit of jobs/ on that cluster (the same pipeline functions).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import (
    Asset,
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    dag,
    get_current_context,
    task,
    teardown,
)

from generec_core import pipeline
from generec_core.config import CLIP_EDIT_CHOICES, GENERATION_BACKENDS, GenerationConfig, default_root
from generec_core.stage_graph import BY_NAME, NAMES, STAGES, Stage, parse_stages
from jobs.airflow_callbacks import deadline_missed, write_failure_summary
from jobs.airflow_glue import StageSparkSubmit, announce_catalog, config_json, run_inputs, verdict_is_final

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
        "stages": Param([], type="array", items={"type": "string", "enum": list(NAMES)},
                        description="Stages to run; empty = all"),
        "shards": Param(4, type="integer", minimum=1, maximum=1024, description="Worklist shards (personalise fan-out)"),
        "top_k": Param(5, type="integer", minimum=1, maximum=100, description="Candidate items per user"),
        "generator_backend": Param(GenerationConfig().backend, type="string", enum=list(GENERATION_BACKENDS),
                                   description="Thumbnail generator (neural-style and restyle need no weights "
                                               "to be installed by hand)"),
        "edit_clips": Param(GenerationConfig().edit_clips, type="string", enum=list(CLIP_EDIT_CHOICES),
                            description="Whose clips are style-edited: users who asked for a style, also every "
                                        "row generation triggers for, or none"),
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
    @task(trigger_rule="none_failed")
    def plan_shards() -> list[int]:
        """Never skipped: no shards (an empty expansion) is how the mapped stages skip cleanly."""
        per_shard = [s.name for s in STAGES if s.per_shard]
        if not set(per_shard) & set(parse_stages(get_current_context()["params"].get("stages"))):
            return []
        return pipeline.shards_to_run(*run_inputs(*per_shard))

    planned = plan_shards()
    tasks = {stage.name: _task(stage, planned) for stage in STAGES}
    for stage in STAGES:
        for name in stage.upstream:
            if stage.per_shard and not BY_NAME[name].per_shard:
                tasks[name] >> planned  # the fan-out waits for what the shards read
            else:
                tasks[name] >> tasks[stage.name]


def _task(stage: Stage, planned):
    """The task of one stage: TaskFlow around ``pipeline.run_stage``, or spark-submit of its job."""
    if stage.spark and SPARK_CONN_ID:
        return StageSparkSubmit(stage=stage.name, conn_id=SPARK_CONN_ID, doc_md=stage.doc)
    options = {"task_id": stage.name, "doc_md": stage.doc, **(ON_GPU if stage.accelerator else {}),
               **({"outlets": [CATALOG_ASSET]} if "catalog" in stage.writes else {})}
    if stage.per_shard:
        def run_shard(shard: int) -> dict:
            config, date = run_inputs(stage.name)
            with verdict_is_final(stage.verdict):
                return pipeline.run_stage(stage.name, config, date, shard)
        return task(**options)(run_shard).expand(shard=planned)

    def run() -> dict:
        config, date = run_inputs(stage.name)
        with verdict_is_final(stage.verdict):
            summary = pipeline.run_stage(stage.name, config, date)
        if "catalog" in stage.writes:
            announce_catalog(CATALOG_ASSET, config, date, summary)
        return summary
    decorated = task(**options)(run)
    return (teardown(decorated) if stage.always else decorated)()


generec_nightly()
