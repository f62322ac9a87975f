"""The publish protocol under crashes, races and hostile ids, on a real S3 server and on file://.

Crash injection runs publish in a subprocess that ``os._exit``s at a named step
(``GENEREC_PUBLISH_FAULT``): afterwards CURRENT must still point at a complete manifest,
and a re-run must complete the publish without duplicating an asset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from staged_run import asset_keys, catalog_problems, race, stage_run

from generec_core.catalog.gc import collect_garbage
from generec_core.catalog.show import show
from generec_core.config import PipelineConfig
from generec_core.datasets.catalog import read_current
from generec_core.datasets.layout import Layout
from generec_core.stages.publish import FAULT_ENV, FAULT_EXIT_CODE, FAULT_STEPS, publish
from generec_core.storage import file_uri, join, read_parquet, storage_for

REPO = Path(__file__).resolve().parents[2]
USERS, ITEMS = ["u1", "u2"], ["i1", "i2"]
# Multipart above 5 MiB in 5 MiB parts, so a 6 MiB clip is a real two-part upload.
STORAGE = {"multipart_threshold_mb": 5, "multipart_chunk_mb": 5}
HOSTILE_USERS = ["../../../etc/passwd", "/abs/user", "nul\x00user", "u" * 3000, "ユーザー🙂", "x/../catalog/CURRENT", ".."]
HOSTILE_ITEMS = ["../item", "/etc/shadow", "it\x00em", "i" * 3000, "vidéo猫", "..", "."]


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def root(request, tmp_path):
    """The same tests on both backends: a temp dir, or a fresh bucket on the real S3 server."""
    if request.param == "file":
        return file_uri(tmp_path / "world")
    _, s3_root = request.getfixturevalue("s3")
    return s3_root


def _config(root: str, **policy) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": root, "storage": STORAGE, "publish": policy})


def _publish_in_subprocess(root: str, date: str, fault: str) -> subprocess.CompletedProcess:
    code = ("import json, sys; from generec_core import pipeline; from generec_core.config import PipelineConfig; "
            "pipeline.run_stage('publish', PipelineConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2])")
    env = {**os.environ, FAULT_ENV: fault, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, json.dumps({"root": root, "storage": STORAGE}), date],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_publish_killed_at_any_step_leaves_a_readable_catalog_and_a_rerun_completes(root, step):
    stage_run(root, "2026-11-23", USERS, ITEMS)
    publish(_config(root), "2026-11-23")
    before = asset_keys(root)
    stage_run(root, "2026-11-24", USERS, ITEMS, version="v2", big_clip_bytes=6 * 2**20)

    proc = _publish_in_subprocess(root, "2026-11-24", step)
    assert proc.returncode == FAULT_EXIT_CODE, proc.stderr[-3000:]
    layout = Layout(root)
    assert catalog_problems(root) == []
    assert read_current(layout)[0]["date"] == "2026-11-23"  # the pointer never moved
    if step == "mid-asset":  # died inside an upload: nothing visible, only a pending write
        assert storage_for(root).pending_writes(join(root, "catalog"))
        assert len(asset_keys(root)) < len(before) + 6

    summary = publish(_config(root), "2026-11-24")
    assert summary["current_moved"] and read_current(layout)[0]["date"] == "2026-11-24"
    assert catalog_problems(root) == []
    assert len(asset_keys(root)) == len(before) + 6  # every new asset once, nothing duplicated
    assert len(read_parquet(summary["manifest"])) == 4
    swept = collect_garbage(root, older_than_days=0, apply=True)
    assert swept.garbage == [] and storage_for(root).pending_writes(join(root, "catalog")) == []
    assert catalog_problems(root) == []


def test_racing_publishers_of_two_dates_exactly_one_wins(root, monkeypatch):
    stage_run(root, "2026-11-23", USERS, ITEMS)
    stage_run(root, "2026-11-24", USERS, ITEMS, version="v2")
    outcomes = race(monkeypatch, "before-swap", [lambda: publish(_config(root), "2026-11-23"),
                                                 lambda: publish(_config(root), "2026-11-24")])
    assert sorted(o[:4] for o in outcomes) == ["lost", "won"], outcomes
    loser = outcomes[0] if outcomes[0].startswith("lost") else outcomes[1]
    assert "another publisher" in loser and "on_conflict" in loser
    winner_date = "2026-11-23" if outcomes[0] == "won" else "2026-11-24"
    assert read_current(Layout(root))[0]["date"] == winner_date
    assert catalog_problems(root) == []


def test_racing_publishers_with_retry_policy_end_on_the_newest_date(root, monkeypatch):
    stage_run(root, "2026-11-23", USERS, ITEMS)
    stage_run(root, "2026-11-24", USERS, ITEMS, version="v2")
    config = _config(root, on_conflict="retry")
    outcomes = race(monkeypatch, "before-swap", [lambda: publish(config, "2026-11-24"),
                                                 lambda: publish(config, "2026-11-23")])
    assert outcomes == ["won", "won"]
    assert read_current(Layout(root))[0]["date"] == "2026-11-24" and catalog_problems(root) == []


def test_racing_publishers_of_the_same_date_exactly_one_commits(root, monkeypatch):
    stage_run(root, "2026-11-24", USERS, ITEMS)
    outcomes = race(monkeypatch, "after-assets", [lambda: publish(_config(root), "2026-11-24")] * 3)
    assert sorted(o[:4] for o in outcomes) == ["lost", "lost", "won"], outcomes
    assert "manifest" in next(o for o in outcomes if o.startswith("lost"))
    assert catalog_problems(root) == [] and len(asset_keys(root)) == 3 * len(ITEMS)  # thumbnail, cover, clip


def test_hostile_ids_never_reach_object_keys(root):
    stage_run(root, "2026-11-24", HOSTILE_USERS, HOSTILE_ITEMS)
    summary = publish(_config(root), "2026-11-24")
    assert summary["rows"] == len(HOSTILE_USERS) * len(HOSTILE_ITEMS)
    assert catalog_problems(root) == []  # only content addresses, the manifest and CURRENT
    keys = [o.uri[len(root):] for o in storage_for(root).list(root)]
    for user in HOSTILE_USERS:
        assert not any(user in key for key in keys if len(user) > 2), user
    assert all(".." not in key.split("/") and "\x00" not in key for key in keys)
    rows = read_parquet(summary["manifest"]).to_pylist()
    assert {r["user_id"] for r in rows} == set(HOSTILE_USERS)  # ids kept exactly as data
    assert {r["item_id"] for r in rows} == set(HOSTILE_ITEMS)
    for user in HOSTILE_USERS:
        assert [r["item_id"] for r in show(root, user)] == sorted(HOSTILE_ITEMS)
    assert [r["user_id"] for r in show(root, "nul\x00user", "it\x00em")] == ["nul\x00user"]
