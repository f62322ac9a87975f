"""Airflow plugin (entry point ``airflow.plugins``): the API server serves each run's report.

The report is a static page on the storage root (``file://`` or ``s3://``); a browser on the
Airflow UI can open neither, and the UI hides extra links that are not http(s) or on its own
server. So the API server serves, for one DAG run, the files its report needs: the page under
``reports/``, the catalog assets it shows and the data-quality pages it links to — nothing else
under the root. The run's root comes from the run's own conf (or this deployment's default root);
access is Airflow's own check for reading that DAG's runs, with the UI's session.
"""

from __future__ import annotations

import mimetypes

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.models.dagrun import DagRun
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Response
from sqlalchemy import select

from generec_core.config import default_root, normalise_root
from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound, join
from jobs.airflow_glue import REPORT_URL_PREFIX

# What a report page shows or links to, relative to the root (see run_report.relative_asset).
SERVED_PREFIXES = ("reports/", "catalog/assets/", "work/")
SERVED_SUFFIXES = (".html", ".json", ".jpg", ".jpeg", ".png", ".mp4")

app = FastAPI(title="GeneRec run files", description="Each DAG run's report and the files it shows")


def _allowed(path: str) -> bool:
    parts = path.split("/")
    return (path.startswith(SERVED_PREFIXES) and path.lower().endswith(SERVED_SUFFIXES)
            and not any(p in ("", ".", "..") for p in parts))


@app.get("/dags/{dag_id}/runs/{run_id}/{path:path}",
         dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))])
def run_file(dag_id: str, run_id: str, path: str, session: SessionDep) -> Response:
    if not _allowed(path):
        raise HTTPException(404, f"not a report file: {path!r}")
    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise HTTPException(404, f"no run {run_id!r} of {dag_id!r}")
    root = normalise_root((dag_run.conf or {}).get("root") or default_root())
    try:
        body = Layout(root).store.read_bytes(join(root, path))
    except (ObjectNotFound, FileNotFoundError):
        raise HTTPException(404, f"{path!r} not found for this run (has its report task run?)") from None
    return Response(body, media_type=mimetypes.guess_type(path)[0] or "application/octet-stream")


class GenerecPlugin(AirflowPlugin):
    name = "generec"
    fastapi_apps = [{"app": app, "url_prefix": REPORT_URL_PREFIX, "name": "GeneRec run reports"}]
