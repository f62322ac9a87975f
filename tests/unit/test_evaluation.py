"""Evaluation: Cosine@K against a brute-force reading, planted share, and a whole run on a tiny root."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from frame_reads import copy_root, make_unreadable, record_frames_reads

from generec_core.config import PipelineConfig, normalise_root
from generec_core.datasets.evaluation import evaluation_uri, load_evaluation
from generec_core.datasets.items import Item
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.embedding.encoder import encoder_id_for
from generec_core.evaluation.cosine import cosine_at_k, history_mean, shown_mean
from generec_core.evaluation.html import evaluation_section
from generec_core.evaluation.summary import format_table
from generec_core.stages.evaluate import evaluate
from generec_core.datasets.frames import DecodedItem, item_embeddings_uri, item_table
from generec_core.storage import join, storage_for, write_parquet
from generec_core.video.decode import SampledVideo

DATE = "2026-11-24"
CATS = ("A", "B", "C", "D")


def test_cosine_at_k_matches_brute_force():
    rng = np.random.default_rng(0)
    history_covers = {u: rng.normal(size=(rng.integers(1, 6), 16)) for u in "xyz"}
    shown_frames = {u: [rng.normal(size=(rng.integers(1, 9), 16)) for _ in range(7)] for u in "xyz"}
    got = cosine_at_k({u: history_mean(h) for u, h in history_covers.items()},
                      {u: [shown_mean(f) for f in fs] for u, fs in shown_frames.items()}, k=5)

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    per_user = [np.mean([np.mean([cos(f, h) for f in frames for h in history_covers[u]])
                         for frames in shown_frames[u][:5]]) for u in "xyz"]
    assert got.value == pytest.approx(float(np.mean(per_user)), abs=1e-9)
    assert (got.users, got.items_per_user) == (3, 5.0)
    assert cosine_at_k({}, {"x": [np.ones(3)]}, 5).value is None  # no history: undefined, not zero


# --- a whole evaluation on a hand-made root: frame j of category c has embedding e_c ----------

def _e(cat: str) -> np.ndarray:
    v = np.zeros(len(CATS), np.float32)
    v[CATS.index(cat)] = 1
    return v


# item -> categories of its two 1-second halves (8 frames, 0.25 s apart); h-items are liked history
ITEMS = {"i1": ("A", "B"), "i2": ("B", "C"), "i3": ("C", "A"), "hA": ("A", "A"), "hB": ("B", "B")}
TIMES = np.arange(8) * 0.25
# (user, item, rank, published frame, published clip): what the pipeline "showed"
SHOWN = [("u1", "i1", 1, 0, (0.0, 1.0)), ("u1", "i2", 2, 0, (0.0, 1.0)), ("u1", "i3", 3, 4, (1.0, 2.0)),
         ("u2", "i1", 1, 4, (1.0, 2.0)), ("u2", "i2", 2, 0, (0.0, 1.0)),
         ("u3", "i1", 1, None, (0.0, 1.0))]  # u3: cold start, original cover


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> PipelineConfig:
    root = normalise_root(str(tmp_path_factory.mktemp("eval-world")))
    layout = Layout(root)
    config = PipelineConfig.from_dict({"root": root, "frames": {"frames_per_video": 8},
                                       "editor": {"clip_window": 4, "clip_stride": 2}})
    encoder = SimpleNamespace(encoder_id=encoder_id_for(config.frames.encoder), dim=len(CATS), preprocessing="one-hot")
    for item_id, halves in ITEMS.items():
        video = SampledVideo(np.zeros((8, 2, 2, 3), np.uint8), TIMES, 2.0, 4.0, 2, 2)
        decoded = DecodedItem(Item(item_id, join(layout.items_dir, f"{item_id}.mp4"), None), video=video)
        embeddings = np.stack([_e(halves[0])] * 4 + [_e(halves[1])] * 4)
        write_parquet(item_embeddings_uri(layout, encoder.encoder_id, config.frames, item_id),
                      item_table(decoded, embeddings, encoder, config))
    write_parquet(join(layout.lake_interactions(DATE), "part-0.parquet"), pa.table({
        "user_id": ["u1", "u2", "u1", "u3"], "item_id": ["hA", "hB", "hB", "hA"],
        "event_type": ["like", "like", "impression", "impression"]}))
    write_parquet(join(layout.user_features(DATE), "part-0.parquet"), pa.table({
        "user_id": ["u1", "u2", "u3"], "taste": [_e("A").tolist(), _e("B").tolist(), [0.5] * 4],
        "n_likes": [1, 1, 0], "is_cold": [False, False, True]}))
    write_parquet(join(layout.worklist(run_id_for(DATE)), "part-0.parquet"), pa.table({
        "user_id": [s[0] for s in SHOWN], "item_id": [s[1] for s in SHOWN], "rank": [s[2] for s in SHOWN]}))
    write_parquet(layout.manifest(DATE, run_id_for(DATE)), pa.table({
        "user_id": [s[0] for s in SHOWN], "item_id": [s[1] for s in SHOWN],
        "thumbnail_kind": ["original" if s[3] is None else "selected" for s in SHOWN],
        "thumbnail_frame_ts": pa.array([None if s[3] is None else float(TIMES[s[3]]) for s in SHOWN], pa.float64()),
        "clip_start_s": [s[4][0] for s in SHOWN], "clip_end_s": [s[4][1] for s in SHOWN]}))
    truth_items = [{"item_id": i, "primary_category": h[0], "duration_s": 2.0,
                    "segments": [{"category": h[0], "start_s": 0.0, "end_s": 1.0},
                                 {"category": h[1], "start_s": 1.0, "end_s": 2.0}]} for i, h in ITEMS.items()]
    truth_users = [{"user_id": "u1", "favourite_categories": ["A"], "cold_start": False},
                   {"user_id": "u2", "favourite_categories": ["B"], "cold_start": False},
                   {"user_id": "u3", "favourite_categories": ["C"], "cold_start": True}]
    for uri, records in ((layout.truth_items, truth_items), (layout.truth_users, truth_users)):
        storage_for(uri).write_bytes(uri, "".join(json.dumps(r) + "\n" for r in records).encode())
    return config


def _cosine(summary: dict, section: str, method: str, k: int = 5) -> float:
    return next(r for r in summary[section] if r["method"] == method)[f"cosine@{k}"]


def test_evaluation_of_a_run(run):
    summary = evaluate(run, DATE)
    assert (summary["users_evaluated"], summary["users_without_history"], summary["pairs"]) == (2, 1, 6)
    # u1 sees (A, not-A, A) -> 2/3; u2 sees (B, B) -> 1; covers: u1 (A, B, C) -> 1/3, u2 (A, B) -> 1/2
    assert _cosine(summary, "thumbnail", "selection (ours, published)") == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert _cosine(summary, "thumbnail", "selection (paper reference)") == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert _cosine(summary, "thumbnail", "original cover") == pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-4)
    assert _cosine(summary, "thumbnail", "random frame") < _cosine(summary, "thumbnail", "selection (ours, published)")
    assert _cosine(summary, "clip", "clips (ours, published)") == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert _cosine(summary, "clip", "first clip") == pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-4)
    assert _cosine(summary, "clip", "unclipped video") == pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-4)
    assert _cosine(summary, "thumbnail", "original cover", k=10) == _cosine(summary, "thumbnail", "original cover")
    planted = summary["planted"]
    assert planted["pairs"] == 5  # the cold-start user is left out
    assert (planted["ours"], planted["reference"], planted["attainable"]) == (0.8, 0.8, 0.8)
    assert (planted["original_cover"], planted["random_frame"]) == (0.4, 0.4)
    assert (planted["clip_ours"], planted["clip_first"]) == (0.8, 0.4)
    assert load_evaluation(Layout(run.root), run_id_for(DATE)) == json.loads(json.dumps(summary))
    text = format_table(summary)
    assert "selection (ours, published)" in text and "0.8333" in text and "0.5142" in text  # ours, and the paper's
    html = evaluation_section(load_evaluation(Layout(run.root), run_id_for(DATE)))
    assert "Cosine@5" in html and "Planted taste" in html


def test_evaluation_is_deterministic_and_skips_without_a_manifest(run):
    first = evaluate(run, DATE)
    assert evaluate(run, DATE) == first  # the random baselines are seeded per pair
    skipped = evaluate(run, "2026-11-23")
    assert "skipped" in skipped and not storage_for(evaluation_uri(Layout(run.root), run_id_for("2026-11-23"))).head(
        evaluation_uri(Layout(run.root), run_id_for("2026-11-23")))


def test_generated_thumbnails_and_edited_clips_are_measured(run):
    """u1 (likes A) was shown i2 at frame 0 (B) and its first half (B): a generated thumbnail and an edited
    clip that look like A must score 1 where their sources score 0, on those pairs and in what rows show."""
    from generec_core.datasets import catalog, users
    from generec_core.datasets.frames import load_frames
    from generec_core.datasets.interactions import likes_and_skips
    from generec_core.evaluation.summary import SHOWN_CLIP, SHOWN_THUMBNAIL, evaluated_items, summarise

    layout, run_id = Layout(run.root), run_id_for(DATE)
    frames, videos = load_frames(run)
    items = evaluated_items(frames, dict(zip(videos["item_id"].to_pylist(), videos["duration_s"].to_pylist())))
    rows = catalog.read_rows(layout, layout.manifest(DATE, run_id))
    for r in rows:
        r.update(thumbnail_uri=f"a/{r['user_id']}-{r['item_id']}.jpg", clip_uri=f"a/{r['user_id']}-{r['item_id']}.mp4",
                 clip_kind="selected")
    shown = next(r for r in rows if (r["user_id"], r["item_id"]) == ("u1", "i2"))
    shown.update(thumbnail_kind="generated", clip_kind="edited")
    summary = summarise(DATE, run_id, rows, items, users.worklist_ranks(layout, run_id),
                        users.tastes(layout, DATE, {"u1", "u2", "u3"}, warm_only=True),
                        likes_and_skips(layout, DATE, {"u1", "u2", "u3"})[0], run.editor, None,
                        {shown["thumbnail_uri"]: _e("A")}, {shown["clip_uri"]: np.stack([_e("A")] * 4)})
    assert [(r["method"], r["cosine@5"], r["users@5"]) for r in summary["generated"]] == [
        ("original cover", 0.0, 1), ("source frame (selected)", 0.0, 1), ("generated (ours, published)", 1.0, 1)]
    assert [(r["method"], r["cosine@5"]) for r in summary["edited"]] == [
        ("source clip (selected)", 0.0), ("edited clip (ours, published)", 1.0)]
    assert _cosine(summary, "thumbnail", SHOWN_THUMBNAIL) == pytest.approx(1.0, abs=1e-4)  # u1: A, A, A; u2: B, B
    assert _cosine(summary, "thumbnail", "selection (ours, published)") == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert _cosine(summary, "clip", SHOWN_CLIP) == pytest.approx(1.0, abs=1e-4)
    text = format_table(summary)
    assert "Generated thumbnails, on the pairs shown one (1 users)" in text and "Edited clips" in text
    assert "Generated thumbnails" not in format_table(evaluate(run, DATE))  # no generation, no such table


def test_the_evaluation_reads_only_the_shown_and_liked_items_frames(run, tmp_path, monkeypatch):
    """Without created items it opens the frames files of the shown items and the shown users' liked items (their
    history) only: with another item's file unreadable, the summary is the same."""
    copy = copy_root(run, tmp_path / "root")
    expected = evaluate(copy, DATE)
    make_unreadable(copy, ["i-never-shown-nor-liked"])
    read = record_frames_reads(monkeypatch)
    assert evaluate(copy, DATE) == expected
    assert sorted(read) == sorted(f"{i}.parquet" for i in ITEMS)  # i1..i3 shown, hA and hB liked
