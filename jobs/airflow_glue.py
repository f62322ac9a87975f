"""What the nightly DAG's tasks need from Airflow and nothing else does: params -> typed config,
connection -> boto3 credentials, verdicts and bugs -> no retry, preflight checks, stage -> spark-submit.

Kept out of ``dags/generec_nightly.py`` so that file reads as wiring, and out of
``generec_core`` because the library never imports Airflow.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import quote

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, BaseOperatorLink, Connection, get_current_context
from airflow.sdk.execution_time.xcom import XCom
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from generec_core.config import CreatorConfig, GenerationConfig, PipelineConfig
from generec_core.datasets.layout import run_id_for
from generec_core.expectations import DataQualityError
from generec_core.stage_graph import parse_stages
from jobs import airflow_api

log = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parents[1]
SPARK_JOBS = {"ingest": "jobs/ingest_interactions.py", "features": "jobs/build_user_features.py"}


# Libraries whose INFO lines drown a task's log (great-expectations logs ~200 per validation).
CHATTY_LOGGERS = ("great_expectations", "py4j", "pyspark", "botocore", "boto3", "urllib3", "s3transfer",
                  "PIL", "matplotlib", "filelock", "fsspec", "onnxruntime", "diffusers", "torch")
# Errors that are bugs or bad input, not weather: a retry fails the same way, minutes later.
PROGRAMMING_ERRORS = (KeyError, IndexError, TypeError, AttributeError, NameError, AssertionError,
                      NotImplementedError, ImportError)
GPU_POOL = "gpu"
IN_PROCESS_RUN = "GENEREC_IN_PROCESS_RUN"  # set by ``generec run`` (jobs/cli.py) for its dag.test() run


def run_inputs(stage: str, *also: str) -> tuple[PipelineConfig, str]:
    """The typed config from the run's params, and the day to process; skips deselected stages."""
    ctx = get_current_context()
    params = ctx["params"]
    if not {stage, *also} & set(parse_stages(params.get("stages"))):
        raise AirflowSkipException(f"stage {stage!r} not selected for this run")
    quiet_chatty_loggers()
    export_aws_connection(params.get("aws_conn_id") or "")
    return config_from_params(params, ctx["run_id"]), ctx["ds"]


def quiet_chatty_loggers() -> None:
    """Third-party INFO lines off; progress bars only on a terminal (``generec run``): a worker's
    stderr is a pipe whose every line the task log shows as an ERROR."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def config_overrides(params: dict, attempt: str = "") -> dict:
    """The config sections the run's params override (in-process tasks and spark-submit jobs alike)."""
    # one `shards` param sizes every fan-out: worklist (Spark), item shards (frames), asset shards (audit, gate)
    return {"features": {"shards": int(params["shards"]), "top_k": int(params["top_k"])},
            "frames": {"shards": int(params["shards"])}, "gate": {"shards": int(params["shards"])},
            "generation": {"backend": params.get("generator_backend") or GenerationConfig.backend,
                           "model": params.get("generator_model") or "",
                           "edit_clips": params.get("edit_clips") or GenerationConfig.edit_clips},
            "creator": {"backend": params.get("creator_backend") or CreatorConfig.backend},
            "run": {"users": list(params.get("users") or []), "dry_run": bool(params.get("dry_run", False)),
                    "attempt": attempt}}


def config_from_params(params: dict, attempt: str = "") -> PipelineConfig:
    return PipelineConfig.from_dict({"root": params["root"], **config_overrides(params, attempt)})


def config_json(params: dict, attempt: str = "") -> str:
    """The overrides as the ``--config`` argument of a spark-submit job (a DAG macro)."""
    return json.dumps(config_overrides(params, attempt), sort_keys=True)


def refuse_unknown_conf(conf: Mapping[str, Any] | None, params: Mapping[str, Any]) -> None:
    """A typo in the trigger's JSON (``dryrun``) must not start a real run: Airflow accepts any key,
    so the run's first task refuses keys that are not params, before anything is written."""
    unknown = sorted(set(conf or {}) - set(params))
    if unknown:
        raise AirflowFailException(f"unknown conf keys {unknown}: not params of this DAG (known: {sorted(params)})")


def require_pools(names: Iterable[str]) -> None:
    """Fail now, with the fix, when a pool the run's tasks need is missing: Airflow would leave those
    tasks Scheduled forever without a word. Asked of the API server (tasks have no metadata DB);
    when it cannot be asked (no server, no rights) the run goes on and the reason is logged. The
    in-process runner (``generec run``, ``IN_PROCESS_RUN`` set) has no API server and queues no task
    on a pool, so there is nothing to check and nothing to warn about."""
    if os.environ.get(IN_PROCESS_RUN):
        log.info("in-process run: tasks do not queue on pools, so %s are not checked", ", ".join(names))
        return
    for name in names:
        exists = airflow_api.pool_exists(name)
        if exists is False:
            raise AirflowFailException(
                f"Airflow pool {name!r} does not exist, so the tasks that need it would wait forever. "
                f"Create it (docs/operations.md, Deployment): airflow pools set {name} <slots = GPUs> 'GPU generation and "
                f"embedding'")
        if exists is None:
            log.warning("could not check that Airflow pool %r exists; tasks in it wait until it does", name)


@contextmanager
def failures_are_final(verdict: bool = True) -> Iterator[None]:
    """No retry for what a retry cannot fix: a failed data-quality or fidelity gate (a verdict on the
    data, when the stage gives verdicts) and programming errors. Transient errors still retry."""
    try:
        yield
    except DataQualityError as exc:
        if not verdict:
            raise
        raise AirflowFailException(str(exc)) from exc
    except PROGRAMMING_ERRORS as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


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


def announce_catalog(asset: Asset, config: PipelineConfig, date: str, summary: dict) -> None:
    """Tell downstream DAGs (``schedule=[asset]``) what a publish committed; a dry run commits nothing."""
    if summary.get("manifest") is None:
        return
    get_current_context()["outlet_events"][asset].extra = {
        "root": config.root, "date": date, "run_id": run_id_for(date),
        "manifest": summary["manifest"], "current_moved": summary["current_moved"]}


# Where the API server serves each run's report (jobs/airflow_plugin.py).
REPORT_URL_PREFIX = "/generec"


def report_url(dag_id: str, run_id: str, report_uri: str) -> str:
    """The report of a run as a path on the API server: the UI shows only same-origin or http(s) links."""
    if "/reports/attempt=" not in report_uri:
        return ""
    relative = "reports/attempt=" + report_uri.rpartition("/reports/attempt=")[2]
    return f"{REPORT_URL_PREFIX}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/{relative}"


class RunReportLink(BaseOperatorLink):
    """The report task's "Run report" button: the page this Airflow run wrote (its task's return value).

    Airflow 3 computes the link in the worker as the task ends and keeps it in an XCom; the page
    itself is served by the API server (``jobs/airflow_plugin.py``), wherever the root is.
    """

    name = "Run report"

    def get_link(self, operator, *, ti_key) -> str:
        summary = XCom.get_value(ti_key=ti_key, key=XCom.XCOM_RETURN_KEY) or {}
        uri = summary.get("report", "") if isinstance(summary, dict) else ""
        return report_url(ti_key.dag_id, ti_key.run_id, uri) if uri else ""


class StageSparkSubmit(SparkSubmitOperator):
    """spark-submit of a stage's job in jobs/; skipped, like the in-process tasks, when deselected."""

    def __init__(self, *, stage: str, conn_id: str, **kwargs):
        super().__init__(
            task_id=stage, conn_id=conn_id, name=f"generec-{stage}", application=str(REPO_DIR / SPARK_JOBS[stage]),
            application_args=["--root", "{{ params.root }}", "--date", "{{ ds }}",
                              "--config", "{{ generec_config_json(params, run_id) }}"], **kwargs)
        self.stage = stage

    def execute(self, context):
        from generec_core.spark.session import SHORT_LIVED_JVM  # pyspark: not at the DAG's parse time
        from generec_core.spark_mirror import short_lived_for_stage

        params = context["params"]
        if self.stage not in parse_stages(params.get("stages")):
            raise AirflowSkipException(f"stage {self.stage!r} not selected for this run")
        # the stage's inputs are listed at the root (and spark-submit's job inherits the credentials)
        export_aws_connection(params.get("aws_conn_id") or "")
        if short_lived_for_stage(self.stage, config_from_params(params, context["run_id"]), context["ds"]):
            # the driver is spark-submit's own JVM, started before the job's code runs, so its options go on the
            # command line; the job gives the executors theirs (session.get_spark)
            conf, key = dict(self.conf or {}), "spark.driver.extraJavaOptions"
            conf[key] = f"{conf.get(key, '')} {SHORT_LIVED_JVM}".strip()
            self.conf = conf
        return super().execute(context)
