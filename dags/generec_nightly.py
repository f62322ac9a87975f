"""GeneRec nightly pipeline: this file only wires the stages listed in generec_core/stage_graph.py.

```
           ┌ ingest ────────────┬─ instruct ─┐  (guidance: read by personalise, generate, create)
preflight ─┤                    ├─ features ─┼─ personalise[shard 0..n] ─ generate[shard 0..n] ─┬─ audit[shard 0..n] ─ gate ─ publish ─ evaluate ─ report
           └ frames[shard 0..n] ┘            └─ create ─────────────────────────────────────────┘
```

The bracketed stages are mapped (dynamic task mapping), one task per shard: ``plan_shards`` lists
the worklist shards that hold work (personalise, generate: users by a stable hash), and
``plan_item_shards`` / ``plan_asset_shards`` list the item shards (frames: new items by a stable hash
of the item id) and the asset shards (audit, the fidelity checks: staged assets by a stable hash of
the URI), ``shards`` of each; the mapped GPU tasks stay in the ``gpu`` pool and queue. ``gate``
combines every asset shard's verdicts: fallbacks, the manifest checks and the pass-rate floor.

``preflight`` refuses a trigger whose conf has keys that are not params (a typo such as
``dryrun`` would otherwise start a real run) and a missing ``gpu`` pool (its tasks would wait
forever), before anything is written. Each task's docs say what it reads and writes.

The graph above is data (``generec_core.stage_graph.STAGES``: each stage's upstream, whether it
runs per shard, needs an accelerator, is a Spark job, may fail a verdict); each task runs
``generec_core.pipeline.run_stage``. The logical date's data interval is the day processed.
Every task can be switched off by the ``stages`` param (re-running one stage on a date's
existing inputs); a switched-off task is skipped and its downstream still runs. Selecting ``gate``
also runs ``audit`` (its checks): a re-run gate re-checks the assets. The report is
a teardown: it runs whatever happened upstream, and a failed gate still fails the DAG run.

Verdict stages (ingest and features end with their great-expectations gate; the fidelity gate)
fail without retry, so nothing downstream (publish) runs; so do programming errors. Transient errors
retry.

**The run report.** Open a run in the grid, select its ``report`` task, and click the **Run report**
button (an extra link, shown once the task has ended, even after a failure): the API server serves
the page at ``/generec/dags/generec_nightly/runs/<run id>/reports/attempt=<safe run id>/index.html``
(``<safe run id>``: the run id with characters unsafe in a path replaced). It is stored on the root at
``reports/attempt=<safe run id>/index.html`` (the date's newest report is also
at ``reports/run=nightly-<date>/index.html``, what ``generec run`` prints) and opens with the run's
status and failed tasks, what was published (rows, users, created items; nothing for a dry run),
the gate's pass rates per asset kind and top failure reasons, and the stage timings in run order;
the details follow, and the raw stage metrics are folded at the end. ``failure.json`` beside it
is the failed run's summary.

Re-running a date: Clear the run (all tasks) in the grid, or trigger the same day at another time
(Airflow keeps one run per logical date; the pipeline's date is its day); either gives the same catalog.

The Spark stages run in-process (local Spark) unless GENEREC_SPARK_CONN_ID names an Airflow
Spark connection: then they are spark-submit of jobs/ on that cluster (the same pipeline functions).
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
from generec_core.config import (
    CLIP_EDIT_CHOICES,
    CREATOR_BACKENDS,
    GENERATION_BACKENDS,
    CreatorConfig,
    GenerationConfig,
    default_root,
)
from generec_core.stage_graph import BY_NAME, FAN_OUTS, NAMES, STAGES, Stage, parse_stages
from jobs.airflow_callbacks import deadline_missed, record_task_failure, write_failure_summary
from jobs.airflow_glue import (
    GPU_POOL,
    RunReportLink,
    StageSparkSubmit,
    announce_catalog,
    config_json,
    failures_are_final,
    refuse_unknown_conf,
    require_pools,
    run_inputs,
)

# Tasks that want an accelerator: the `gpu` pool caps them at one per GPU, and the `gpu`
# queue routes them to the GPU workers (docker/gpu-worker.Dockerfile) under CeleryExecutor.
ON_GPU = {"pool": GPU_POOL, "queue": "gpu"}
# When the nightly run fires (UTC cron; it processes the day that just ended). "off" leaves
# only manual triggers and backfills, e.g. for a staging deployment or the scheduler test.
NIGHTLY_CRON = os.environ.get("GENEREC_NIGHTLY_CRON", "0 0 * * *")
# Updated by every successful publish (extra: root, date, run_id, manifest, current_moved):
# downstream DAGs schedule on it with ``schedule=[CATALOG_ASSET]``.
CATALOG_ASSET = Asset("generec_catalog")
# The one switch for the Spark stages, read when the DAG is parsed (it changes the operators):
# empty = in-process local Spark; an Airflow Spark connection id = spark-submit to its master.
SPARK_CONN_ID = os.environ.get("GENEREC_SPARK_CONN_ID", "")


def _retry_delay() -> timedelta:
    """The first retry's delay (each next one doubles, with Airflow's jitter): GENEREC_RETRY_DELAY_S, default 60.

    A minute lets a restarted worker or a throttled store recover; the stack tier, which kills workers on
    purpose, shortens it, because what it checks is that the task is retried, not how long Airflow waits."""
    raw = os.environ.get("GENEREC_RETRY_DELAY_S", "60")
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(f"GENEREC_RETRY_DELAY_S must be a number of seconds >= 0, got {raw!r}")
    return timedelta(seconds=seconds)


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
    doc_md=__doc__,
    schedule=None if NIGHTLY_CRON == "off" else CronDataIntervalTimetable(NIGHTLY_CRON, timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Transient errors (object store, executor hiccups) retry with exponential backoff; verdicts
    # (data-quality and fidelity gates) raise AirflowFailException and are never retried.
    default_args={"retries": 2, "retry_delay": _retry_delay(), "retry_exponential_backoff": True,
                  "max_retry_delay": timedelta(minutes=20), "execution_timeout": timedelta(hours=2),
                  "trigger_rule": "none_failed", "on_failure_callback": record_task_failure},
    on_failure_callback=write_failure_summary,
    deadline=_deadline(),
    params={
        "root": Param(default_root(), type="string", description="Storage root URI (file:// or s3://)"),
        "stages": Param([], type="array", items={"type": "string", "enum": list(NAMES)},
                        description="Stages to run; empty = all"),
        "shards": Param(4, type="integer", minimum=1, maximum=1024,
                        description="Shards of each fan-out: worklist (personalise, generate), item shards "
                                    "(frames), asset shards (audit)"),
        "top_k": Param(5, type="integer", minimum=1, maximum=100, description="Candidate items per user"),
        "generator_backend": Param(GenerationConfig().backend, type="string", enum=list(GENERATION_BACKENDS),
                                   description="Thumbnail generator (neural-style and restyle need no weights "
                                               "to be installed by hand)"),
        "creator_backend": Param(CreatorConfig().backend, type="string", enum=list(CREATOR_BACKENDS),
                                 description="AI creator: montage (real segments joined, CPU), diffusers (keyframes "
                                             "from local weights, GPU) or none"),
        "edit_clips": Param(GenerationConfig().edit_clips, type="string", enum=list(CLIP_EDIT_CHOICES),
                            description="Whose clips are style-edited: users who asked for a style, also every "
                                        "row generation triggers for, or none"),
        "aws_conn_id": Param(os.environ.get("GENEREC_AWS_CONN_ID") or None, type=["null", "string"],
                             description="Airflow AWS connection for s3:// roots; empty = boto3's default chain"),
        "users": Param([], type="array", items={"type": "string", "minLength": 1},
                       description="Only personalise these user ids; empty = every user in the worklist"),
        "dry_run": Param(False, type="boolean", description="Run everything but publish (the catalog is untouched)"),
        "generator_model": Param(None, type=["null", "string"],
                                 description="diffusers only: model id under $GENEREC_WEIGHTS_DIR, or a local "
                                             "directory; empty = the configured default"),
    },
    tags=["generec"],
    user_defined_macros={"generec_config_json": config_json},
)
def generec_nightly():
    @task(retries=0, doc_md="Refuses conf keys that are not params, and a missing `gpu` pool, before anything runs.")
    def preflight() -> None:
        context = get_current_context()
        # the DAG's declared params: the context's params also hold the conf's unknown keys, merged in
        refuse_unknown_conf(context["dag_run"].conf, context["dag"].params)
        require_pools([GPU_POOL])

    checked = preflight()
    plans = {fan_out: _plan(fan_out) for fan_out in FAN_OUTS}
    tasks = {stage.name: _task(stage, plans.get(stage.shards)) for stage in STAGES}
    for plan in plans.values():
        checked >> plan
    for stage in STAGES:
        if not stage.upstream:
            checked >> tasks[stage.name]
        for name in stage.upstream:
            if stage.per_shard and not BY_NAME[name].per_shard:
                tasks[name] >> plans[stage.shards]  # the fan-out waits for what the shards read
            else:
                tasks[name] >> tasks[stage.name]


def _plan(fan_out: str):
    """The task that lists a fan-out's shards (``pipeline.shards_to_run``). Never skipped: no shards (an empty
    expansion, also when none of its stages is selected) is how the mapped stages skip cleanly."""
    stages = [s.name for s in STAGES if s.shards == fan_out]
    selecting = {name for s in STAGES if s.shards == fan_out for name in (s.name, *s.runs_with)}
    fan = FAN_OUTS[fan_out]

    @task(task_id=fan.plan_task, trigger_rule="none_failed",
          doc_md=f"The shards of {', '.join(stages)}: {fan.doc}.")
    def plan() -> list[int]:
        if not selecting & set(parse_stages(get_current_context()["params"].get("stages"))):
            return []
        return pipeline.shards_to_run(*run_inputs(*sorted(selecting)), fan_out)
    return plan()


# The params each task reads beyond `root` and `stages` (shown in its docs in the UI).
PARAMS_READ = {"ingest": (), "instruct": (), "frames": ("shards",), "features": ("shards", "top_k"),
               "personalise": ("users",), "generate": ("generator_backend", "generator_model", "edit_clips"),
               "create": ("creator_backend", "generator_backend", "generator_model"), "audit": ("shards",),
               "gate": ("shards",), "publish": ("dry_run",), "evaluate": ("dry_run",), "report": ("dry_run",)}


def _doc(stage: Stage) -> str:
    """A task's docs in the UI: what it does, the datasets it reads and writes, the params it reads."""
    params = ("root", "stages", "aws_conn_id", *PARAMS_READ.get(stage.name, ()))
    return "\n\n".join([
        f"**{stage.name}**: {stage.doc}" + (f" (one task per shard: {FAN_OUTS[stage.shards].doc})"
                                            if stage.per_shard else ""),
        "**Reads:** " + ", ".join(f"`{d}`" for d in stage.reads),
        "**Writes:** " + ", ".join(f"`{d}`" for d in stage.writes) + " (datasets: README, Datasets)",
        "**Params:** " + ", ".join(f"`{p}`" for p in params)])


def _task(stage: Stage, planned):
    """The task of one stage: TaskFlow around ``pipeline.run_stage``, or spark-submit of its job."""
    if stage.spark and SPARK_CONN_ID:
        return StageSparkSubmit(stage=stage.name, conn_id=SPARK_CONN_ID, doc_md=_doc(stage))
    options = {"task_id": stage.name, "doc_md": _doc(stage), **(ON_GPU if stage.accelerator else {}),
               **({"outlets": [CATALOG_ASSET]} if "catalog" in stage.writes else {})}
    if stage.per_shard:
        def run_shard(shard: int) -> dict:
            get_current_context()["shard_label"] = f"shard {shard}"  # the UI's name for this mapped instance
            config, date = run_inputs(stage.name, *stage.runs_with)
            with failures_are_final(stage.verdict):
                return pipeline.run_stage(stage.name, config, date, shard)
        return task(**options, map_index_template="{{ shard_label }}")(run_shard).expand(shard=planned)

    def run() -> dict:
        config, date = run_inputs(stage.name, *stage.runs_with)
        with failures_are_final(stage.verdict):
            summary = pipeline.run_stage(stage.name, config, date)
        if "catalog" in stage.writes:
            announce_catalog(CATALOG_ASSET, config, date, summary)
        return summary
    decorated = task(**options)(run)
    made = (teardown(decorated) if stage.always else decorated)()
    if "reports" in stage.writes:
        made.operator.operator_extra_links = (RunReportLink(),)
    return made


generec_nightly()
