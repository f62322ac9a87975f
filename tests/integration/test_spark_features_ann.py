"""Candidates through the faiss index (large catalogues) against the exact scorer.

The scorer tests need no JVM (they call ``Scorer.score_batch`` as an executor would); the
Spark test forces the index onto the small paper-mode world of test_spark_features.py by
lowering ``ann_min_items``, where scanning every list must reproduce the exact worklist.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from generec_core.config import FeaturesConfig, PipelineConfig
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.retrieval.ann import AnnIndex, n_lists
from generec_core.spark import features as spark_features
from generec_core.spark.features import ItemIndex, Scorer
from generec_core.stages.features import build_user_features
from generec_core.storage import read_parquet

ITEMS, USERS, DIM, TOP_K = 2000, 60, 32, 5


def _units(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    rows = centres[rng.integers(0, len(centres), n)] + 0.8 * rng.normal(size=(n, centres.shape[1]))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def scorer_world():
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(12, DIM))
    ids = np.array([f"i{n:05d}" for n in range(ITEMS)], dtype=object)
    index = ItemIndex(ids, _units(rng, ITEMS, centres), ids, _units(rng, ITEMS, centres))
    popularity = rng.integers(0, 4, ITEMS).astype(np.float64)  # many ties: order by position
    als_items = rng.normal(size=(ITEMS, 4)).astype(np.float32)
    features = dataclasses.replace(FeaturesConfig(), top_k=TOP_K, als_top_k=2, ann_min_items=1)
    users = []
    for u in range(USERS):
        items = np.sort(rng.choice(ITEMS, size=int(rng.integers(1, 80)), replace=False))
        liked = rng.random(len(items)) < (0 if u % 5 == 0 else 0.4)  # every fifth user is cold
        users.append({"user_id": f"u{u:03d}", "item_ids": ids[items].tolist(), "liked": liked,
                      "signal": np.where(liked, 1.0, -0.5 * (rng.random(len(items)) < 0.3)),
                      "als_factor": rng.normal(size=4).tolist()})
    scorer = Scorer(index, features, popularity, index.global_taste(popularity), als_items)
    return scorer, pd.DataFrame(users)


def test_an_index_scanning_every_list_gives_the_exact_candidates(scorer_world):
    exact, users = scorer_world
    index = AnnIndex.build(exact.index.item_matrix, nprobe=n_lists(ITEMS), seed=0)
    ann = pickle.loads(pickle.dumps(dataclasses.replace(exact, ann=index)))  # as the broadcast ships it
    want, got = exact.score_batch(users), ann.score_batch(users)
    assert want["is_cold"].sum() >= USERS // 5 and (~want["is_cold"]).sum() > 0
    for column in ("user_id", "cand_item_ids", "cand_retrievers", "is_cold", "n_likes"):
        assert want[column].tolist() == got[column].tolist(), column
    for w, g in zip(want["cand_scores"], got["cand_scores"]):
        np.testing.assert_allclose(g, w, atol=1e-6)
    for w, g in zip(want["cand_als"], got["cand_als"]):
        assert [x is None for x in w] == [x is None for x in g]


def test_a_coarse_index_still_gives_k_unseen_candidates_with_true_cosines(scorer_world):
    exact, users = scorer_world
    coarse = dataclasses.replace(exact, ann=AnnIndex.build(exact.index.item_matrix, nprobe=1, seed=0))
    want, got = exact.score_batch(users), coarse.score_batch(users)
    position = {item: n for n, item in enumerate(exact.index.item_ids)}
    overlap = []
    for (_, w), (_, g), seen in zip(want.iterrows(), got.iterrows(), users["item_ids"]):
        primary = [i for i, r in zip(g["cand_item_ids"], g["cand_retrievers"]) if r != "als"]
        assert len(primary) == TOP_K and not set(g["cand_item_ids"]) & set(seen)
        if g["is_cold"]:  # popularity needs no index: the same list
            assert g["cand_item_ids"] == w["cand_item_ids"]
            continue
        cosines = exact.index.item_matrix[[position[i] for i in g["cand_item_ids"]]] @ np.asarray(g["taste"])
        np.testing.assert_allclose(g["cand_scores"], cosines, atol=1e-6)
        assert g["cand_scores"][:TOP_K] == sorted(g["cand_scores"][:TOP_K], reverse=True)
        overlap.append(len(set(primary) & set(w["cand_item_ids"][:TOP_K])) / TOP_K)
    assert np.mean(overlap) > 0.3  # one list of 45 scanned: measured 0.47 of the true top-K (chance: ~0.003)


@pytest.mark.spark
def test_spark_run_with_the_index_forced_reproduces_the_exact_worklist(spark, tmp_path, monkeypatch):
    import test_spark_features as paper  # the paper-mode world and its numpy reference (same folder)

    built, build = [], AnnIndex.build

    def spy(matrix, nprobe, seed=0):  # on the driver: the executors only get the broadcast
        built.append((len(matrix), nprobe))
        return build(matrix, nprobe, seed)

    monkeypatch.setattr(spark_features.AnnIndex, "build", staticmethod(spy))
    root = tmp_path.as_uri()
    config = PipelineConfig(root=root, features=dataclasses.replace(
        FeaturesConfig(), top_k=paper.TOP_K, shards=paper.SHARDS, shuffle_partitions=2, taste_mode="paper",
        als_top_k=0, ann_min_items=1))
    paper.write_lake(root)
    frames = paper.make_frames()
    build_user_features(spark, config, paper.DAY, frames)
    assert built == [(13, FeaturesConfig().ann_nprobe)]  # 12 items + the cover-less one; 4 lists, all scanned
    rows = read_parquet(Layout(root).worklist(run_id_for(paper.DAY))).to_pylist()
    for user, want in paper.reference(frames, paper.DAY).items():
        mine = sorted((r for r in rows if r["user_id"] == user), key=lambda r: r["rank"])
        assert [r["item_id"] for r in mine] == want["items"], user
        np.testing.assert_allclose([r["candidate_score"] for r in mine], want["scores"], atol=1e-5)
        assert {r["retriever"] for r in mine} == {want["retriever"]}
