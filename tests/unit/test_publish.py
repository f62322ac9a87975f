"""The publish protocol on file:// (the embedded default): idempotence, backfills, readers, gc.

Races, crashes and hostile ids run on both backends in tests/integration/test_s3_publish.py.
"""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pytest
from staged_run import asset_keys, catalog_problems, stage_run

from generec_core.catalog.diff import diff
from generec_core.catalog.gc import collect_garbage
from generec_core.catalog.show import show
from generec_core.config import PipelineConfig
from generec_core.datasets.catalog import CatalogError, read_current
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.stages import publish as publish_mod
from generec_core.stages.publish import UnpublishableAsset, publish
from generec_core.storage import file_uri, read_parquet, storage_for, write_parquet

USERS, ITEMS = ["u1", "u2"], ["i1", "i2", "i3"]


def _config(root: str, **publish_policy) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": root, "publish": publish_policy} if publish_policy else {"root": root})


@pytest.fixture
def root(tmp_path):
    return file_uri(tmp_path / "world")


def test_publish_is_idempotent_and_content_addressed(root):
    stage_run(root, "2026-11-24", USERS, ITEMS)
    first = publish(_config(root), "2026-11-24")
    assert first["rows"] == 6 and first["assets"] == 9 and first["assets_uploaded"] == 9
    layout = Layout(root)
    manifest_before = storage_for(first["manifest"]).read_bytes(first["manifest"])
    current_before = storage_for(layout.current).read_bytes(layout.current)
    second = publish(_config(root), "2026-11-24")
    assert second["assets_uploaded"] == 0 and second["assets"] == 9
    assert storage_for(first["manifest"]).read_bytes(first["manifest"]) == manifest_before
    assert storage_for(layout.current).read_bytes(layout.current) == current_before
    assert len(asset_keys(root)) == 9 and catalog_problems(root) == []
    current = json.loads(current_before)
    assert set(current) == {"run_id", "date", "manifest", "manifest_sha256"}
    rows = read_parquet(current["manifest"]).to_pylist()
    assert all(r["thumbnail_uri"].startswith(layout.assets + "/") for r in rows)


def test_republish_replaces_the_manifest_and_backfill_keeps_current(root):
    stage_run(root, "2026-11-24", USERS, ITEMS)
    publish(_config(root), "2026-11-24")
    stage_run(root, "2026-11-24", USERS, ITEMS[:2], version="v2")  # the date re-run with new content
    publish(_config(root), "2026-11-24")
    layout = Layout(root)
    rows = read_parquet(layout.manifest("2026-11-24", run_id_for("2026-11-24"))).to_pylist()
    assert sorted({r["item_id"] for r in rows}) == ["i1", "i2"]
    assert len(asset_keys(root)) == 9 + 6  # old ones stay until gc; none duplicated
    stage_run(root, "2026-11-20", USERS, ITEMS)
    assert publish(_config(root), "2026-11-20")["current_moved"] is False
    assert read_current(layout)[0]["date"] == "2026-11-24"
    assert catalog_problems(root) == []


def test_gc_removes_only_old_unreferenced_assets_and_is_a_dry_run_by_default(root):
    stage_run(root, "2026-11-24", USERS, ITEMS)
    publish(_config(root), "2026-11-24")
    stage_run(root, "2026-11-24", USERS, ITEMS, version="v2")
    publish(_config(root), "2026-11-24")
    assert len(asset_keys(root)) == 18
    young = collect_garbage(root, older_than_days=1)
    assert young.garbage == [] and young.young_unreferenced == 9  # inside the grace period
    later = time.time() + 2 * 86400
    dry = collect_garbage(root, older_than_days=1, now=later)
    assert len(dry.garbage) == 9 and not dry.applied and len(asset_keys(root)) == 18
    done = collect_garbage(root, older_than_days=1, apply=True, now=later)
    assert len(done.garbage) == 9 and len(asset_keys(root)) == 9
    assert catalog_problems(root) == []
    assert collect_garbage(root, older_than_days=0, apply=True, now=later).garbage == []


def test_show_and_diff_read_the_catalog(root):
    stage_run(root, "2026-11-23", USERS, ITEMS)
    publish(_config(root), "2026-11-23")
    stage_run(root, "2026-11-24", USERS + ["u3"], ITEMS[1:], version="v2")
    publish(_config(root), "2026-11-24")
    assert [r["item_id"] for r in show(root, "u1")] == ["i2", "i3"]  # live = the 24th
    assert [r["item_id"] for r in show(root, "u1", run="2026-11-23")] == ["i1", "i2", "i3"]
    assert [r["item_id"] for r in show(root, "u2", "i3")] == ["i3"]
    assert show(root, "nobody") == []
    result = diff(root, "2026-11-23", "nightly-2026-11-24")
    assert result.removed == [("u1", "i1"), ("u2", "i1")]
    assert result.added == [("u3", "i2"), ("u3", "i3")]
    assert {k for k, _ in result.changed} == {("u1", "i2"), ("u1", "i3"), ("u2", "i2"), ("u2", "i3")}
    assert all("thumbnail_uri" in fields for _, fields in result.changed)
    assert diff(root, "2026-11-24", "2026-11-24").summary()["unchanged"] == 6
    with pytest.raises(CatalogError, match="no manifest for run"):
        diff(root, "2026-11-01", "2026-11-24")


def test_diff_compares_the_same_night_across_two_catalog_roots(root, tmp_path):
    """How a refactor proves it changed nothing: the same night built twice, compared by content address."""
    other = file_uri(tmp_path / "other")
    for target, version in ((root, "v1"), (other, "v1")):
        stage_run(target, "2026-11-24", USERS, ITEMS, version=version)
        publish(_config(target), "2026-11-24")
    same = diff(root, "2026-11-24", "2026-11-24", root_b=other)
    assert same.summary()["unchanged"] == 6 and not (same.added or same.removed or same.changed)
    stage_run(other, "2026-11-24", USERS, ITEMS, version="v2")  # other bytes: other content addresses
    publish(_config(other), "2026-11-24")
    moved = diff(root, "2026-11-24", "2026-11-24", root_b=other)
    assert len(moved.changed) == 6 and all({"thumbnail_uri", "cover_uri", "clip_uri"} <= set(f) for _, f in moved.changed)


def test_readers_say_when_nothing_is_published(root):
    with pytest.raises(CatalogError, match="nothing published"):
        show(root, "u1")


def test_a_reused_asset_removed_meanwhile_is_restored_before_the_swap(root, monkeypatch):
    stage_run(root, "2026-11-24", USERS, ITEMS)
    publish(_config(root), "2026-11-24")
    victim = Layout(root).assets + "/" + asset_keys(root)[0]

    def gc_strikes(step: str) -> None:  # a concurrent gc deleting an (old, unreferenced) copy
        if step == "after-manifest":
            storage_for(victim).delete(victim)

    monkeypatch.setattr(publish_mod, "checkpoint_hook", gc_strikes)
    assert publish(_config(root), "2026-11-24")["assets_restored"] == 1
    assert catalog_problems(root) == []


def test_only_staged_media_of_the_run_is_publishable(root, tmp_path):
    rows = stage_run(root, "2026-11-24", USERS, ITEMS)
    outside = file_uri(tmp_path / "elsewhere.jpg")
    storage_for(outside).write_bytes(outside, b"not yours")
    uri = Layout(root).gate_rows(run_id_for("2026-11-24"))
    for bad in (outside, rows[0]["cover_staged"].rsplit(".", 1)[0] + ".sh"):
        write_parquet(uri, pa.Table.from_pylist([{**rows[0], "cover_staged": bad}]))
        with pytest.raises(UnpublishableAsset):
            publish(_config(root), "2026-11-24")
    assert storage_for(Layout(root).current).head(Layout(root).current) is None


def test_a_dry_run_audits_but_leaves_the_catalog_untouched(root):
    from generec_core import pipeline

    stage_run(root, "2026-11-24", USERS, ITEMS)
    dry = PipelineConfig.from_dict({"root": root, "run": {"dry_run": True}})
    assert pipeline.run_stage("publish", dry, "2026-11-24")["published"] is False
    assert asset_keys(root) == [] and storage_for(Layout(root).current).head(Layout(root).current) is None
