"""End to end on an object store: the nightly DAG through the CLI with an s3:// root.

The same tiny demo world is built under a file:// root and under a bucket on the real S3
server (SeaweedFS); both are run through Airflow. The catalogs must agree: the same
manifest rows (asset URIs compared without their root), the same content-addressed asset
keys, and the publish task must have emitted the ``generec_catalog`` Airflow asset event.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from generec_cli import run_generec
from staged_run import asset_keys, catalog_problems

from generec_core.catalog.gc import collect_garbage
from generec_core.datasets.catalog import read_current, read_rows
from generec_core.datasets.layout import Layout
from generec_core.storage import file_uri, storage_for

pytestmark = [pytest.mark.s3, pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]
WORLD = ["--users", "24", "--items", "8", "--days", "2", "--shards", "2"]  # every asset kind, created items included
URI_COLUMNS = ("thumbnail_uri", "cover_uri", "clip_uri")


def _catalog(root: str) -> tuple[dict, list[dict]]:
    current, _ = read_current(Layout(root))
    rows = read_rows(Layout(root), current["manifest"])
    for row in rows:
        for column in URI_COLUMNS:
            if row[column]:
                assert row[column].startswith(root + "/catalog/assets/"), row[column]
                row[column] = row[column][len(root):]
        for candidate in row["candidates"]:
            assert candidate["thumbnail_uri"].startswith(root + "/catalog/assets/"), candidate
            candidate["thumbnail_uri"] = candidate["thumbnail_uri"][len(root):]
    # the manifest's bytes (so its sha256) embed the root in every asset URI: compare the rest
    pointer = {k: v for k, v in current.items() if k != "manifest_sha256"}
    return {**pointer, **{k: current[k][len(root):] for k in ("manifest", "created") if k in current}}, rows


def _asset_events(airflow_home: Path) -> list[dict]:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        found = db.execute("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                           "WHERE a.name = 'generec_catalog'").fetchall()
    return [json.loads(extra) if isinstance(extra, str) else extra for (extra,) in found]


def test_the_nightly_dag_on_s3_publishes_the_same_catalog_as_on_file(s3, tmp_path):
    _, s3_root = s3
    local_root = file_uri(tmp_path / "world")
    local = run_generec(["demo", "--root", local_root, *WORLD], tmp_path / "airflow-file")
    assert local.returncode == 0, local.stderr[-6000:]
    remote = run_generec(["demo", "--root", s3_root, *WORLD], tmp_path / "airflow-s3")
    assert remote.returncode == 0, remote.stderr[-6000:]
    assert f"catalog: {s3_root}/catalog/CURRENT" in remote.stdout

    current_s3, rows_s3 = _catalog(s3_root)
    current_file, rows_file = _catalog(local_root)
    assert current_s3 == current_file and current_s3["date"] == "2026-11-24"
    assert rows_s3 == rows_file and rows_s3
    assert asset_keys(s3_root) == asset_keys(local_root)
    assert catalog_problems(s3_root) == []
    assert storage_for(Layout(s3_root).report(current_s3["run_id"])).head(Layout(s3_root).report(current_s3["run_id"]))
    assert collect_garbage(s3_root, older_than_days=0).garbage == []  # everything published is referenced

    (event,) = _asset_events(tmp_path / "airflow-s3")
    assert event["root"] == s3_root and event["run_id"] == "nightly-2026-11-24" and event["current_moved"]
    # No key of the bucket came from a local path: Spark's outputs were mirrored up under the root.
    assert all(o.uri.startswith(s3_root + "/") for o in storage_for(s3_root).list(s3_root))
