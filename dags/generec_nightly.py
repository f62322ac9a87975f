"""GeneRec nightly pipeline: this file only wires stages from generec_core.pipeline.

ingest ─┐
        ├─ features ─ personalise[shard 0..n] ─ gate ─ publish ─ report
frames ─┘

The logical date's data interval is the day processed. Every task can be switched off by
the ``stages`` param (re-running one stage on a date's existing inputs); a switched-off task
is skipped and its downstream still runs. The report is a teardown: it runs whatever
happened upstream, and a failed gate still fails the DAG run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task, teardown
from airflow.sdk.exceptions import AirflowSkipException

from generec_core import pipeline
from generec_core.config import PipelineConfig, default_root

GPU_POOL = "gpu"


def _run_inputs(stage: str) -> tuple[PipelineConfig, str]:
    """The typed config from the run's params, and the day to process; skips deselected stages."""
    ctx = get_current_context()
    params = ctx["params"]
    if stage not in pipeline.parse_stages(params.get("stages")):
        raise AirflowSkipException(f"stage {stage!r} not selected for this run")
    overrides = {"features": {"shards": int(params["shards"]), "top_k": int(params["top_k"])}}
    config = PipelineConfig.from_dict({"root": params["root"], **overrides})
    return config, ctx["ds"]


@dag(
    dag_id="generec_nightly",
    description="Personalised thumbnails and clips for yesterday's users, gated and published to the catalog",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=2), "trigger_rule": "none_failed"},
    params={
        "root": Param(default_root(), type="string", description="Storage root URI (file:// or s3://)"),
        "stages": Param([], type="array", items={"type": "string", "enum": list(pipeline.STAGES)},
                        description="Stages to run; empty = all"),
        "shards": Param(4, type="integer", minimum=1, maximum=1024, description="Worklist shards (personalise fan-out)"),
        "top_k": Param(5, type="integer", minimum=1, maximum=100, description="Candidate items per user"),
    },
    tags=["generec"],
)
def generec_nightly():
    @task
    def ingest() -> dict:
        return pipeline.ingest(*_run_inputs("ingest"))

    @task(pool=GPU_POOL)
    def frames() -> dict:
        return pipeline.frames(*_run_inputs("frames"))

    @task
    def features() -> dict:
        return pipeline.features(*_run_inputs("features"))

    @task(trigger_rule="none_failed")
    def plan_shards() -> list[int]:
        config, date = _run_inputs("personalise")
        return pipeline.shards_to_run(config, date)

    @task(pool=GPU_POOL)
    def personalise(shard: int) -> dict:
        config, date = _run_inputs("personalise")
        return pipeline.personalise(config, date, shard)

    @task(retries=0)  # a failed gate is a verdict, not a transient error
    def gate() -> dict:
        return pipeline.gate(*_run_inputs("gate"))

    @task
    def publish() -> dict:
        return pipeline.publish(*_run_inputs("publish"))

    @teardown  # runs whatever happened upstream, and does not mask a failed run as success
    def report() -> dict:
        return pipeline.report(*_run_inputs("report"))

    planned = plan_shards()
    [ingest(), frames()] >> features() >> planned
    personalise.expand(shard=planned) >> gate() >> publish() >> report()


generec_nightly()
