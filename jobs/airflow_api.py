"""Questions a task asks Airflow's API server: in Airflow 3 a task has no metadata DB of its own.

The server is the one the worker already talks to (``[core] execution_api_server_url`` without its
``/execution`` suffix). Deployments whose API needs a login name an Airflow HTTP connection (login
and password of a user allowed to read pools) in ``GENEREC_AIRFLOW_API_CONN_ID``; nothing here logs
a credential.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from urllib.parse import quote

log = logging.getLogger(__name__)

TIMEOUT_S = 10


def api_base() -> str:
    from airflow.configuration import conf

    execution = conf.get("core", "execution_api_server_url", fallback="") or ""
    if execution:
        return execution.rstrip("/").removesuffix("/execution")
    return (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")


def _token(base: str) -> str | None:
    conn_id = os.environ.get("GENEREC_AIRFLOW_API_CONN_ID", "")
    if not conn_id:
        return None
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    body = json.dumps({"username": conn.login, "password": conn.password}).encode()
    request = urllib.request.Request(f"{base}/auth/token", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())["access_token"]


def get(path: str) -> tuple[int, str] | None:
    """(HTTP status, body) of a GET on the public API, or None when the server cannot be reached."""
    base = api_base()
    try:
        token = _token(base)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with urllib.request.urlopen(urllib.request.Request(f"{base}/api/v2{path}", headers=headers),
                                    timeout=TIMEOUT_S) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, ValueError, KeyError) as exc:
        log.info("Airflow API server %s not reachable: %s", base, type(exc).__name__)
        return None


def pool_exists(name: str) -> bool | None:
    """True or False when Airflow answered; None when it could not be asked (unreachable, no rights, or
    something that is not Airflow's API answered on that address)."""
    answer = get(f"/pools/{quote(name, safe='')}")
    if answer is None:
        return None
    status, body = answer
    if status == 200 and f'"{name}"' in body:
        return True
    if status == 404 and "pool" in body.lower() and name in body:  # Airflow's own "Pool ... not found"
        return False
    return None
