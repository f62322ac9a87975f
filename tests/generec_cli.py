"""The ``generec`` command line as the DAG tests call it: a child process with its own Airflow home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_generec(args: list[str], airflow_home: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    """``python -m jobs.cli ARGS`` from the repository, its metadata DB under ``airflow_home``; output captured."""
    env = {**os.environ, "GENEREC_AIRFLOW_HOME": str(airflow_home), "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
