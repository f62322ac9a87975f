"""The gate stage end to end on a small real run: demo videos embedded by the real frames stage, assets
staged as personalise and generate stage them (some deliberately broken), then the audit stage's asset
shards and ``run_gate``, which combines their verdicts.

No Spark or Airflow: the staged rows are written here, so every outcome is known in advance.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fidelity_images import blurred, colour_shifted, demo_frames, jpeg, with_pasted_face
from frame_reads import copy_root, make_unreadable, record_frames_reads
from PIL import Image

from generec_core import pipeline
from generec_core.config import PipelineConfig
from generec_core.datasets.audit import asset_shard
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.datasets.frames import load_frame_embeddings
from generec_core.datasets.generated import GENERATED_ROWS_SCHEMA, read_all_shown_rows
from generec_core.datasets.staged import STAGED_ROWS_SCHEMA
from generec_core.demo.videos import encode_mp4
from generec_core.fidelity.gating import GateFailed, plan_assets
from generec_core.fidelity.metadata import mark_ai_generated
from generec_core.stages.audit import audit_shard
from generec_core.stages.frames import embed_items
from generec_core.stages.gate import run_gate
from generec_core.storage import join, read_parquet, storage_for, write_parquet
from generec_core.video.decode import sample_item

pytestmark = [pytest.mark.slow]
DATE = "2026-11-24"
RUN = run_id_for(DATE)
LEAKED_USER = "u5"


def _config(root, **gate) -> PipelineConfig:
    return PipelineConfig.from_dict({"root": str(root), "gate": gate})


def _world(root) -> dict:
    """Two items, real frames stage, and the staged assets; returns asset URIs by role."""
    raw = root / "raw/items"
    (raw / "videos").mkdir(parents=True)
    (raw / "covers").mkdir()
    (raw / "videos/item-a.mp4").write_bytes(encode_mp4([*demo_frames("coffee", 24), *demo_frames("rocket", 24)]))
    (raw / "videos/item-b.mp4").write_bytes(encode_mp4([*demo_frames("cat", 24), *demo_frames("galaxy", 24)]))
    exif = Image.Exif()
    exif[0x013B] = LEAKED_USER  # EXIF Artist: an upstream cover that names a user
    (raw / "covers/item-b.jpg").write_bytes(jpeg(demo_frames("cat", 24)[5], exif=exif))
    (raw / "items.jsonl").write_text(
        json.dumps({"item_id": "item-a", "video": "videos/item-a.mp4"}) + "\n" +
        json.dumps({"item_id": "item-b", "video": "videos/item-b.mp4", "cover": "covers/item-b.jpg"}) + "\n")
    config = _config(root)
    embed_items(config)
    layout = Layout(config.root)
    frames = {item: sample_item(str(raw / f"videos/{item}.mp4"), config.frames).frames for item in ("item-a", "item-b")}
    zone = join(layout.work(RUN), "staged")

    def stage(name: str, data: bytes) -> str:
        uri = join(zone, name)
        storage_for(uri).write_bytes(uri, data)
        return uri

    from generec_core.video.clip import cut_clip

    table = load_frame_embeddings(config)
    ts = {(i, f): t for i, f, t in zip(table["item_id"].to_pylist(), table["frame_idx"].to_pylist(),
                                        table["ts"].to_pylist())}
    a, b = frames["item-a"], frames["item-b"]
    return {
        "ts": ts,
        "cover-a": stage("covers/item-a.jpg", jpeg(a[0], 95)),
        "cover-b": stage("covers/item-b.jpg", (raw / "covers/item-b.jpg").read_bytes()),
        "a3": stage("thumbnails/item-a-f003.jpg", jpeg(a[3])),
        "a5": stage("thumbnails/item-a-f005.jpg", jpeg(a[5])),
        "a10-blurred": stage("thumbnails/item-a-f010.jpg", jpeg(blurred(a[10]))),
        "b5": stage("thumbnails/item-b-f005.jpg", jpeg(b[5])),
        "gen-ok": stage("generated/item-a-f003-k1.jpg", mark_ai_generated(jpeg(colour_shifted(a[3])), "restyle/t")),
        "gen-face": stage("generated/item-a-f005-k2.jpg", mark_ai_generated(jpeg(with_pasted_face(a[5])), "restyle/t")),
        "clip-a": stage("clips/item-a-w002-009.mp4", cut_clip(raw / "videos/item-a.mp4", ts["item-a", 2], ts["item-a", 10])),
        # declared as sampled frames 2..9 of item-b (the paper's L = 8), but cut three sampled frames short
        "clip-b-short": stage("clips/item-b-w002-009.mp4",
                              cut_clip(raw / "videos/item-b.mp4", ts["item-b", 2], ts["item-b", 7])),
    }


def _row(s: dict, user: str, item: str, kind: str, thumb: str | None, idx: int | None, clip: str | None,
         **extra) -> dict:
    ts = s["ts"]
    cover = s["cover-a" if item == "item-a" else "cover-b"]
    return {"user_id": user, "item_id": item, "shard": 0, "retriever": "taste_knn", "is_cold": kind == "original",
            "thumbnail_kind": kind, "thumbnail_staged": cover if kind == "original" else s[thumb],
            "cover_staged": cover, "thumbnail_frame_idx": idx, "thumbnail_frame_ts": None if idx is None else ts[item, idx],
            "score": None if kind == "original" else 0.7, "clip_staged": s[clip] if clip else None,
            "clip_start_s": ts[item, 2] if clip else None, "clip_end_s": ts[item, 10] if clip else None,
            "clip_score": 0.6 if clip else None, "encoder_id": "efficientnet-lite0", "generator_id": None,
            "selected_staged": None, **extra}


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate-world")
    s = _world(root)
    rows = [
        _row(s, "u1", "item-a", "selected", "a3", 3, "clip-a"),
        _row(s, "u2", "item-a", "generated", "gen-ok", 3, "clip-a", generator_id="restyle/t", selected_staged=s["a3"]),
        _row(s, "u3", "item-a", "generated", "gen-face", 5, None, generator_id="restyle/t", selected_staged=s["a5"]),
        _row(s, "u4", "item-a", "selected", "a10-blurred", 10, None),
        _row(s, "u5", "item-b", "selected", "b5", 5, "clip-b-short"),
        _row(s, "u6", "item-b", "original", None, None, None),
    ]
    layout = Layout(f"file://{root}")
    _stage(layout, rows)
    write_parquet(join(layout.user_features(DATE), "part-0.parquet"), pa.Table.from_pylist(
        [{"user_id": f"u{k}", "n_likes": k - 1, "cluster": 0 if k <= 2 else 1} for k in range(1, 7)]))
    summary = _audit_and_gate(_config(root, min_pass_rate=0.5))
    return root, s, summary


def _audit_and_gate(config: PipelineConfig) -> dict:
    """As the DAG runs them: one audit task per asset shard, then the gate (each records its metrics)."""
    for shard in pipeline.shards_to_run(config, DATE, "assets"):
        pipeline.run_stage("audit", config, DATE, shard)
    return pipeline.run_stage("gate", config, DATE)


def _stage(layout: Layout, rows: list[dict]) -> None:
    """As personalise and generate write them: the staged rows (selected frames), and beside them which
    rows show a generated image."""
    staged, generated = [], []
    for row in rows:
        if row["thumbnail_kind"] == "generated":
            generated.append({"user_id": row["user_id"], "item_id": row["item_id"],
                              "thumbnail_staged": row["thumbnail_staged"], "generator_id": row["generator_id"]})
            row = {**row, "thumbnail_kind": "selected", "thumbnail_staged": row["selected_staged"]}
        staged.append({k: row.get(k) for k in STAGED_ROWS_SCHEMA.names})
    write_parquet(layout.staged_rows(RUN, 0), pa.Table.from_pylist(staged, STAGED_ROWS_SCHEMA))
    write_parquet(layout.generated_rows(RUN, 0), pa.Table.from_pylist(generated, GENERATED_ROWS_SCHEMA))


def _gate_rows(root) -> dict[str, dict]:
    return {r["user_id"]: r for r in pq.read_table(root / f"work/run={RUN}/gate/rows.parquet").to_pylist()}


def _verdicts(root) -> dict[str, dict]:
    return {v["asset"]: v for v in pq.read_table(root / f"work/run={RUN}/gate/verdicts.parquet").to_pylist()}


def test_each_asset_gets_the_verdict_of_its_kind(gated):
    root, s, _ = gated
    v = _verdicts(root)
    failing = {k: {json.loads(v[s[k]]["checks"])[i]["name"] for i, c in enumerate(json.loads(v[s[k]]["checks"]))
                   if not c["passed"]} for k in ("cover-a", "cover-b", "a3", "a5", "a10-blurred", "b5", "gen-ok",
                                                   "gen-face", "clip-a", "clip-b-short")}
    assert {k for k, f in failing.items() if not f} == {"cover-a", "a3", "a5", "b5", "gen-ok", "clip-a"}
    assert failing["cover-b"] == {"no_user_identifier"}
    assert "sharpness" in failing["a10-blurred"]
    assert "new_faces" in failing["gen-face"]
    assert failing["clip-b-short"] == {"duration"}
    assert {v[s[k]]["kind"] for k in ("gen-ok", "gen-face")} == {"generated"}
    assert v[s["clip-a"]]["kind"] == "clip" and v[s["cover-a"]]["kind"] == "cover" and v[s["a3"]]["kind"] == "selected"


def test_rows_fall_back_and_say_why(gated):
    root, s, _ = gated
    rows = _gate_rows(root)
    assert rows["u1"]["fallback"] is None and rows["u1"]["thumbnail_staged"] == s["a3"]
    assert rows["u2"]["fallback"] is None and rows["u2"]["thumbnail_kind"] == "generated"
    u3 = rows["u3"]  # generated with a new face -> the selected frame it was made from
    assert u3["fallback"].startswith("generated thumbnail failed gate: ") and "new_faces" in u3["fallback"]
    assert (u3["thumbnail_kind"], u3["thumbnail_staged"], u3["generator_id"]) == ("selected", s["a5"], None)
    u4 = rows["u4"]  # blurred selected frame -> the original cover
    assert u4["fallback"].startswith("thumbnail failed gate: ") and "sharpness: blurred" in u4["fallback"]
    assert (u4["thumbnail_kind"], u4["thumbnail_staged"], u4["score"]) == ("original", s["cover-a"], None)
    u5 = rows["u5"]  # its cover leaks a user id (no cover published) and its clip is short (no clip)
    assert u5["thumbnail_staged"] == s["b5"] and u5["cover_staged"] is None and u5["clip_staged"] is None
    assert "clip failed gate: duration" in u5["fallback"]
    assert "u6" not in rows  # cold user on the failed cover: nothing publishable


def test_failed_assets_are_quarantined_with_reasons(gated):
    root, s, _ = gated
    base = root / f"lake/quarantine/assets/dt={DATE}"
    failed = {f["asset"]: f for f in map(json.loads, (base / "failed.jsonl").read_text().splitlines())}
    assert set(failed) == {s[k] for k in ("cover-b", "a10-blurred", "gen-face", "clip-b-short")}
    for entry in failed.values():
        assert entry["reasons"] and (base / entry["quarantined"].rsplit("/", 1)[-1]).is_file()
        assert LEAKED_USER not in entry["quarantined"]  # quarantined copies are named by content hash


def test_summary_pass_rates_data_checks_and_bias(gated):
    root, _, summary = gated
    assert summary["by_stage"]["personalise"] == {"assets": 8, "passed": 5, "pass_rate": 0.625, "floor": 0.5}
    assert summary["generated"] == {"assets": 2, "passed": 1, "pass_rate": 0.5}
    assert summary["manifest_checks"]["success"] and summary["manifest_checks"]["evaluated"] >= 20
    assert summary["failed_checks"]["new_faces"] == 1 and summary["rows"] == 5 and summary["rows_dropped"] == 1
    bias = summary["bias"]
    # u1 and u2 (cluster 0) were shown what was personalised for them; every other row fell back
    assert bias["cluster"] == {"groups": {"0": {"rows": 2, "pass_rate": 1.0}, "1": {"rows": 4, "pass_rate": 0.0}},
                               "gap": 1.0}
    assert bias["activity"]["groups"]["1-2 likes"] == {"rows": 2, "pass_rate": 0.5}
    assert bias["activity"]["groups"]["0 likes"] == {"rows": 1, "pass_rate": 1.0}
    assert bias["activity"]["groups"]["3-9 likes"] == {"rows": 3, "pass_rate": 0.0}
    assert (root / f"work/run={RUN}/metrics/gate.json").is_file()
    assert (root / f"work/run={RUN}/gate/manifest_checks.json").is_file()


def test_rerun_gives_the_same_rows_and_below_the_floor_the_gate_halts(gated):
    root, _, summary = gated
    before = pq.read_table(root / f"work/run={RUN}/gate/rows.parquet")
    with pytest.raises(GateFailed) as err:
        run_gate(_config(root, min_pass_rate=0.5, min_pass_rate_generated=0.9), DATE)
    message = str(err.value)
    assert "generate pass rate 0.500 below floor 0.9" in message and "dominant failure reasons" in message
    assert "new_faces: face absent from its source" in message
    assert pq.read_table(root / f"work/run={RUN}/gate/rows.parquet").equals(before)  # deterministic re-run
    with pytest.raises(GateFailed, match=r"personalise pass rate 0.625 below floor 0.9"):
        run_gate(_config(root), DATE)


def test_a_generated_row_without_lineage_is_not_published_as_generated(gated):
    """Identifiability needs the row's mark too: without ``generator_id`` the asset fails and the row
    falls back to its selected frame, so the manifest never shows an unattributed generated image."""
    root, s, _ = gated
    shard = Layout(f"file://{root}").generated_rows(RUN, 0)
    original = read_parquet(shard)
    rows = original.to_pylist()
    rows[0]["generator_id"] = None  # u2: generated, but the row does not say by what
    write_parquet(shard, pa.Table.from_pylist(rows, original.schema))
    try:
        summary = _audit_and_gate(_config(root, min_pass_rate=0.5))
    finally:
        write_parquet(shard, original)
    u2 = _gate_rows(root)["u2"]
    assert (u2["thumbnail_kind"], u2["thumbnail_staged"]) == ("selected", s["a3"])
    assert "identifiability: catalog row not marked as generated" in u2["fallback"]
    assert summary["manifest_checks"]["success"]


def test_edited_clips_are_gated_and_fall_back_to_their_source(gated):
    """u1's clip edited by the network passes every clip check; u2's edit flickers (a different speckle on
    every frame) and falls back to the clip it was edited from."""
    import numpy as np

    from generec_core.config import GenerationConfig
    from generec_core.fidelity.metadata import ai_clip_tags
    from generec_core.generation.neural_style_generator import NeuralStyleGenerator
    from generec_core.video.clip import clip_frames, encode_clip

    root, s, _ = gated
    layout = Layout(f"file://{root}")
    frames, rate = clip_frames(storage_for(s["clip-a"]).read_bytes(s["clip-a"]))
    editor = NeuralStyleGenerator(GenerationConfig())
    rng = np.random.default_rng(0)
    speckled = [np.clip(f.astype(int) + rng.integers(-40, 41, f.shape), 0, 255).astype(np.uint8) for f in frames]
    edits = {}
    for user, edited in (("u1", editor.edit_clip(frames, None, ("vintage",))), ("u2", speckled)):
        edits[user] = join(layout.work(RUN), f"staged/edited_clips/item-a-{user[-1]}.mp4")
        storage_for(edits[user]).write_bytes(edits[user], encode_clip(edited, rate, ai_clip_tags(editor.clip_generator_id)))
    shard = layout.generated_rows(RUN, 0)
    original = read_parquet(shard)
    rows = original.to_pylist() + [{"user_id": "u1", "item_id": "item-a", "thumbnail_staged": None,
                                    "generator_id": None}]
    for row in rows:
        if row["user_id"] in edits:
            row.update(clip_staged=edits[row["user_id"]], clip_generator_id=editor.clip_generator_id)
    write_parquet(shard, pa.Table.from_pylist(rows, GENERATED_ROWS_SCHEMA))
    try:
        summary = _audit_and_gate(_config(root, min_pass_rate=0.5))
    finally:
        write_parquet(shard, original)
    gate_rows, verdicts = _gate_rows(root), _verdicts(root)
    u1, u2 = gate_rows["u1"], gate_rows["u2"]
    assert (u1["clip_kind"], u1["clip_staged"], u1["clip_generator_id"]) == ("edited", edits["u1"],
                                                                             editor.clip_generator_id)
    assert u1["thumbnail_kind"] == "selected" and u1["fallback"] is None
    assert (u2["clip_kind"], u2["clip_staged"], u2["clip_generator_id"]) == ("selected", s["clip-a"], None)
    assert u2["fallback"].startswith("edited clip failed gate: ") and "flicker: flickers" in u2["fallback"]
    assert u2["thumbnail_kind"] == "generated"  # its generated thumbnail is judged on its own
    checks = {c["name"]: c for c in json.loads(verdicts[edits["u1"]]["checks"])}
    assert verdicts[edits["u1"]]["kind"] == "edited_clip" and {"flicker", "identifiability"} <= set(checks)
    assert summary["by_kind"]["edited_clip:pass"] == 1 and summary["by_kind"]["edited_clip:fail"] == 1
    assert summary["generated"]["assets"] == 4 and summary["manifest_checks"]["success"]
    assert gate_rows["u4"]["clip_kind"] is None and gate_rows["u5"]["clip_kind"] is None  # no clip, no kind


def test_one_asset_shard_or_many_give_the_same_verdicts_rows_and_summary(gated):
    """The audit's shards split the assets (each asset judged once, in one shard); the gate's verdicts,
    rows, quarantine and summary are the same whatever the shard count."""
    root, _, _ = gated
    layout = Layout(f"file://{root}")
    quarantine = root / f"lake/quarantine/assets/dt={DATE}/failed.jsonl"
    runs = {}
    for shards in (4, 1):
        summary = _audit_and_gate(_config(root, min_pass_rate=0.5, shards=shards))
        parts = [read_parquet(layout.audit_verdicts(RUN, n)).column("asset").to_pylist() for n in range(shards)]
        assert sorted(a for part in parts for a in part) == sorted(_verdicts(root))  # each asset in one shard
        assert shards == 1 or sum(1 for part in parts if part) > 1
        runs[shards] = (_verdicts(root), _gate_rows(root), quarantine.read_text(),
                        {k: v for k, v in summary.items() if k != "seconds"})
    assert runs[4] == runs[1]
    metrics = json.loads((root / f"work/run={RUN}/metrics/audit-shard-0.json").read_text())
    assert metrics["asset_shards"] == 1 and metrics["assets"] == len(runs[1][0])


def test_the_gate_refuses_to_decide_without_every_audit_shard(gated):
    root, _, _ = gated
    with pytest.raises(FileNotFoundError, match="asset shard 4 "):
        run_gate(_config(root, min_pass_rate=0.5, shards=8), DATE)  # shards 4..7 never audited


def test_a_rerun_reuses_the_model_outputs_and_gives_the_same_verdicts(gated):
    """The audit reruns on the same assets: every image's model outputs come from ``gate_cache`` (keyed by
    pixels and models), the verdicts are the same; with reuse off every model runs and they are still the same."""
    root, _, _ = gated
    before = _verdicts(root)
    assert list((root / "features/gate_cache").rglob("*.npz"))
    for reuse in (True, False):
        _audit_and_gate(_config(root, min_pass_rate=0.5, shards=2, reuse_model_outputs=reuse))
        assert _verdicts(root) == before
        stats = [json.loads((root / f"work/run={RUN}/metrics/audit-shard-{n}.json").read_text())["model_outputs"]
                 for n in range(2)]
        assert all(s["reused"] is reuse for s in stats)
        total = {k: sum(s[k] for s in stats) for k in ("hits", "misses", "face_hits", "face_misses")}
        if reuse:
            assert total["misses"] == total["face_misses"] == 0 and total["hits"] > 0 and total["face_hits"] > 0
        else:
            assert total["hits"] == total["face_hits"] == 0 and total["misses"] > 0


def test_an_audit_shard_reads_only_the_frames_of_its_assets_items(gated, tmp_path, monkeypatch):
    """An asset shard opens the frames files of the items its assets come from and no other: with the other
    item's file unreadable, its verdicts are byte for byte the same."""
    root, _, _ = gated
    copy = copy_root(_config(root, min_pass_rate=0.5), tmp_path / "root")
    layout = Layout(copy.root)
    plans = plan_assets(read_all_shown_rows(layout, RUN))
    for shards in range(2, 9):  # a shard count that leaves one shard with the assets of one item only
        items = {n: {p.item_id for a, p in plans.items() if asset_shard(a, shards) == n} for n in range(shards)}
        single = [n for n, mine in items.items() if len(mine) == 1]
        if single:
            break
    shard, (item,) = single[0], items[single[0]]
    copy = PipelineConfig.from_dict({**copy.to_dict(), "gate": {**copy.to_dict()["gate"], "shards": shards}})
    verdicts_uri = layout.audit_verdicts(RUN, shard)
    audit_shard(copy, DATE, shard)
    before = storage_for(verdicts_uri).read_bytes(verdicts_uri)
    make_unreadable(copy, sorted({"item-a", "item-b"} - {item}))
    read = record_frames_reads(monkeypatch)
    audit_shard(copy, DATE, shard)
    assert read == [f"{item}.parquet"]
    assert storage_for(verdicts_uri).read_bytes(verdicts_uri) == before
