"""Generation and creation through the real DAG: neural-style thumbnails, edited clips and created videos get
published; re-running a date replaces its created items; a noise-making diffusion model is rejected by the
fidelity gate: exactly its users fall back to their selected frames, and its created videos reach nobody."""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from generec_cli import run_generec

from generec_core.datasets.catalog import read_created_items, read_rows
from generec_core.datasets.generated import read_shown_rows
from generec_core.datasets.layout import Layout
from generec_core.datasets.staged import staged_shards
from generec_core.storage import file_uri

DATE = "2026-11-24"
RUN = f"nightly-{DATE}"
pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.slow]


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def _manifest(root: Path) -> list[dict]:
    """The date's published manifest (the shared world's CURRENT is the later, simulated night)."""
    layout = Layout(file_uri(root))
    return read_rows(layout, layout.manifest(DATE, RUN))


def _staged_rows(root: Path) -> list[dict]:
    """Every shard's staged rows with generation laid over them, as the gate audits them."""
    layout = Layout(file_uri(root))
    return [r for shard in staged_shards(layout, RUN) for r in read_shown_rows(layout, RUN, shard)]


@pytest.fixture(scope="module")
def world(two_night_demo):
    """A tiny demo world whose nightly run of DATE used the default (neural-style) generator (``conftest``)."""
    return two_night_demo


def test_neural_style_thumbnails_and_edited_clips_are_published_with_lineage(world):
    root, _ = world
    rows = _manifest(root)
    generated = [r for r in rows if r["thumbnail_kind"] == "generated"]
    assert generated, "the default neural-style backend should publish generated thumbnails"
    assert all(r["generator_id"].startswith("neural-style/") for r in generated)
    assert all(r["generator_id"] is None for r in rows if r["thumbnail_kind"] not in ("generated", "created"))
    lineage = [x for p in (root / f"work/run={RUN}").glob("shard=*/generated.parquet") for x in pq.read_table(p).to_pylist()]
    assert {x["backend"] for x in lineage} == {"neural-style"}
    images = [x for x in lineage if x["asset_kind"] == "thumbnail"]
    assert len({x["asset"] for x in images}) <= len([r for r in _staged_rows(root) if r["thumbnail_kind"] == "generated"])
    # users who asked for a style see their clip edited in it, unless the gate sent them back to the unedited one
    guidance = [json.loads(line) for line in (root / f"features/guidance/dt={DATE}/guidance.jsonl").read_text().splitlines()]
    stylers = {g["user_id"] for g in guidance if g["source"] == "instruction" and g["generate"] and g["styles"]}
    asked = [r for r in rows if r["user_id"] in stylers and r["clip_uri"]]
    assert asked, "the tiny world should have a user who asked for a style"
    for r in asked:
        assert r["clip_kind"] == "edited" or "edited clip failed gate" in (r["fallback"] or "")
    edited = [r for r in rows if r["clip_kind"] == "edited"]
    assert edited and all(r["clip_generator_id"].startswith("neural-style/") for r in edited)
    assert {r["clip_kind"] for r in rows if r["user_id"] not in stylers and r["clip_uri"]} == {"selected", "created"}
    assert all(r["clip_kind"] is None and r["clip_generator_id"] is None for r in rows if not r["clip_uri"])
    page = (root / f"reports/run={RUN}/index.html").read_text()
    assert "Generated thumbnails: the taste, the source frame, the result" in page and "<video" in page


def _created(root: Path) -> list[dict]:
    return read_created_items(Layout(file_uri(root)), DATE, RUN)


def test_created_items_are_gated_published_and_shown_to_their_audience(world):
    from generec_core.creator.provenance import provenance_in
    from generec_core.fidelity.metadata import ai_marked, clip_metadata

    root, _ = world
    created, rows = _created(root), _manifest(root)
    assert created, "the tiny world should have taste groups or instructing users to create for"
    assert set(created[0]) == {"item_id", "video_uri", "cover_uri", "title", "duration_s", "audience", "sources",
                               "generator_id"}
    quarantined = {p.stem for p in (root / "lake/quarantine/items").glob("*.json")}
    truth = {json.loads(line)["item_id"]: json.loads(line) for line in (root / "demo/truth/items.jsonl").open()}
    by_item = {}
    for r in rows:
        by_item.setdefault(r["item_id"], []).append(r)
    for item in created:
        assert item["item_id"].startswith("created-") and 4.0 <= item["duration_s"] <= 12.0
        assert item["audience"].startswith(("group:", "user:")) and item["title"].endswith("a mix made for you")
        for source in item["sources"]:  # real, usable items and ranges inside them
            assert source["item_id"] in truth and source["item_id"] not in quarantined
            assert 0 <= source["start_s"] < source["end_s"] <= truth[source["item_id"]]["duration_s"] + 1e-6
        metadata = clip_metadata(_path(item["video_uri"]).read_bytes())
        assert provenance_in(metadata) == item["sources"] and ai_marked(metadata)
        shown = by_item[item["item_id"]]
        assert shown and all(r["thumbnail_kind"] == "created" and r["clip_kind"] == "created" for r in shown)
        assert all(r["thumbnail_uri"] == r["cover_uri"] == item["cover_uri"] and r["clip_uri"] == item["video_uri"]
                   for r in shown)
        if item["audience"].startswith("user:"):
            assert [r["user_id"] for r in shown] == [item["audience"].removeprefix("user:")]
    page = (root / f"reports/run={RUN}/index.html").read_text()
    assert "Created items (AI creator)" in page and html.escape(created[0]["title"]) in page
    evaluation = json.loads((root / f"work/run={RUN}/evaluation/summary.json").read_text())["created"]
    assert evaluation["items"] == len(created) and evaluation["cosine@1"]["created (ours, published)"] is not None


def test_rerunning_the_date_replaces_its_created_items(world):
    root, home = world
    before_items, before_rows = _created(root), sorted(_manifest(root), key=lambda r: (r["user_id"], r["item_id"]))
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--shards", "2", "--stages", "create,gate,publish"],
                       home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    after_rows = sorted(_manifest(root), key=lambda r: (r["user_id"], r["item_id"]))
    assert _created(root) == before_items and after_rows == before_rows  # byte-identical files, same names
    assert len({(r["user_id"], r["item_id"]) for r in after_rows}) == len(after_rows)
    assert len(list((root / f"catalog/created/dt={DATE}").rglob("*.parquet"))) == 1


def test_noise_from_a_random_diffusion_model_falls_back_to_selected_frames(world, tmp_path):
    from tiny_models import tiny_sd_pipeline

    root, home = world
    model_dir = tmp_path / "tiny-sd-turbo"  # turbo family: 2 steps, no CFG, native 64 px
    tiny_sd_pipeline().save_pretrained(model_dir)
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--shards", "2",
                        "--stages", "generate,gate,publish,report",
                        "--param", "generator_backend=diffusers", "--param", f"generator_model={model_dir}"], home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]

    staged = {(r["user_id"], r["item_id"]): r for r in _staged_rows(root)}
    generated = {k for k, r in staged.items() if r["thumbnail_kind"] == "generated"}
    assert generated and all(staged[k]["generator_id"].startswith("diffusers/tiny-sd-turbo/sd-turbo/") for k in generated)
    verdicts = pq.read_table(root / f"work/run={RUN}/gate/verdicts.parquet").to_pylist()
    gen_verdicts = [v for v in verdicts if v["kind"] == "generated"]
    assert gen_verdicts and not any(v["passed"] for v in gen_verdicts), "noise must not pass the fidelity gate"

    rows = {(r["user_id"], r["item_id"]): r for r in _manifest(root)}
    fell_back = {k for k, r in rows.items() if (r["fallback"] or "").startswith("generated thumbnail failed gate")}
    assert fell_back == generated  # exactly the generated rows, no others
    for key in generated:
        row, selected = rows[key], staged[key]["selected_staged"]
        assert row["thumbnail_kind"] == "selected" and row["generator_id"] is None
        digest = hashlib.sha256(_path(selected).read_bytes()).hexdigest()
        assert _path(row["thumbnail_uri"]).name == f"{digest}.jpg"  # the user's own selected frame
    assert not any(r["thumbnail_kind"] == "generated" for r in rows.values())


def test_created_videos_of_random_diffusion_keyframes_reach_nobody(world, tmp_path):
    """The creator's diffusers backend (keyframes by image-to-image, CPU, tiny random weights) makes videos; the
    gate finds them unlike their sources and quarantines them; the night still publishes everything else."""
    from tiny_models import tiny_sd_pipeline

    root, home = world
    model_dir = tmp_path / "tiny-sd-turbo"
    tiny_sd_pipeline().save_pretrained(model_dir)
    proc = run_generec(["run", "--root", str(root), "--date", DATE, "--shards", "2", "--stages", "create,gate,publish",
                        "--param", "creator_backend=diffusers", "--param", f"generator_model={model_dir}"], home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    staged = pq.read_table(root / f"work/run={RUN}/created/items.parquet").to_pylist()
    assert staged and all(i["generator_id"].startswith("creator-diffusers-v1+diffusers/") and i["edited"]
                          for i in staged)
    verdicts = {v["asset"]: v for v in pq.read_table(root / f"work/run={RUN}/gate/verdicts.parquet").to_pylist()}
    assert all(not verdicts[i["video_staged"]]["passed"] for i in staged)
    assert any("authenticity" in r for i in staged for r in verdicts[i["video_staged"]]["reasons"])
    failed = [json.loads(line) for line in (root / f"lake/quarantine/assets/dt={DATE}/failed.jsonl").open()]
    assert {i["video_staged"] for i in staged} <= {f["asset"] for f in failed if f["kind"] == "created_video"}
    assert _created(root) == [] and not any(r["thumbnail_kind"] == "created" for r in _manifest(root))
    assert _manifest(root)  # everyone else still got their night
