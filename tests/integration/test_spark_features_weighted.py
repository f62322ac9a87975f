"""Default (weighted) taste, k-means clusters and the ALS retriever on real Spark.

A planted world: items of two looks (A near one direction, B near another); A-fans like A
and skip B, B-fans the reverse. The weighted taste is checked against an independent numpy
transcription of the formula; clusters must separate the two fan groups; ALS must propose
the item a fan's peers co-liked.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from generec_core.config import FeaturesConfig, PipelineConfig
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.stages.features import build_user_features
from generec_core.storage import join, read_parquet, write_parquet

DAY, NEXT = "2026-11-20", "2026-11-21"
OLD = "2026-08-12"  # 100 days before DAY: a like that old has decayed below the minimum support
DIM, TOP_K, ALS_K = 8, 2, 2
A_ITEMS = [f"a{n}" for n in range(6)]
B_ITEMS = [f"b{n}" for n in range(6)]
FEATURES = dataclasses.replace(FeaturesConfig(), top_k=TOP_K, als_top_k=ALS_K, clusters=2, shards=2,
                               shuffle_partitions=2, als_iterations=5, cluster_iterations=5)


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def make_frames(seed: int = 3) -> pa.Table:
    rng = np.random.default_rng(seed)
    rows = []
    for item in A_ITEMS + B_ITEMS:
        axis = np.eye(DIM)[0 if item.startswith("a") else 1]
        for idx in (-1, 0, 1):
            rows.append((item, idx, unit(axis + 0.35 * rng.normal(size=DIM)).astype(np.float32)))
    return pa.table({
        "item_id": [r[0] for r in rows], "frame_idx": pa.array([r[1] for r in rows], pa.int32()),
        "ts": [float(max(r[1], 0)) for r in rows],
        "embedding": pa.array([r[2].tolist() for r in rows], pa.list_(pa.float32())),
    })


def planted_events() -> list[tuple]:
    """(dt, user, item, event_type, hour, watch_ms)."""
    ev = []
    for n, user in enumerate(["fa1", "fa2", "fa3", "fa4"]):
        liked = ["a0", "a1"] if user == "fa4" else ["a0", "a1", "a2"]  # fa4 never saw a2
        ev += [(DAY, user, i, "like", 8 + n, None) for i in liked]
        ev += [(DAY, user, "a3", "click", 9, None), (DAY, user, "b0", "skip", 10, None),
               (DAY, user, "b1", "skip", 11, None), (DAY, user, "b1", "impression", 11, None)]
    for n, user in enumerate(["fb1", "fb2", "fb3", "fb4"]):
        liked = ["b0", "b1"] if user == "fb4" else ["b0", "b1", "b2"]
        ev += [(DAY, user, i, "like", 8 + n, None) for i in liked]
        ev += [(DAY, user, "a0", "skip", 10, None), (DAY, user, "b3", "share", 12, None)]
    ev += [
        (DAY, "clicker", "a3", "click", 6, None),  # support 0.4 < 0.5: cold, but ALS knows them
        (OLD, "stale", "a5", "like", 12, None),  # 100 days old: decayed far below min support
        (DAY, "watcher", "b3", "watch", 7, 9000),  # long watch 0.2 ...
        (DAY, "watcher", "b4", "share", 7, None),  # ... + share 0.8: warm
        (DAY, "watcher", "b5", "watch", 8, 1000),  # short watch: no signal
        (DAY, "watcher", "a4", "like", 9, None), (DAY, "watcher", "a4", "skip", 10, None),  # nets to +0.5
        (NEXT, "clicker", "b2", "like", 9, None),  # after DAY: invisible (point in time)
    ]
    return ev


def write_lake(root: str, events: list[tuple]) -> None:
    for dt in sorted({e[0] for e in events}):
        rows = [e for e in events if e[0] == dt]
        day = datetime.fromisoformat(f"{dt}T00:00:00+00:00")
        write_parquet(join(Layout(root).lake_interactions(dt), "part-00000.parquet"), pa.table({
            "event_id": [f"{dt}-{n}" for n in range(len(rows))],
            "user_id": [r[1] for r in rows], "item_id": [r[2] for r in rows], "event_type": [r[3] for r in rows],
            "ts": pa.array([day + timedelta(hours=r[4]) for r in rows], pa.timestamp("us", tz="UTC")),
            "watch_ms": pa.array([r[5] for r in rows], pa.int64()), "dt": [dt] * len(rows),
        }))


def weighted_reference(frames: pa.Table, events: list[tuple], f: FeaturesConfig) -> dict:
    """The weighted taste formula, transcribed independently of the implementation."""
    covers = {r["item_id"]: np.asarray(r["embedding"], np.float64)
              for r in frames.to_pylist() if r["frame_idx"] == -1}
    end = datetime.fromisoformat(f"{DAY}T00:00:00+00:00") + timedelta(days=1)
    weight = {"like": f.like_weight, "share": f.share_weight, "click": f.click_weight, "skip": f.skip_weight}
    signal: dict[tuple, float] = {}
    for dt, user, item, kind, hour, watch_ms in events:
        if dt > DAY:
            continue
        w = f.long_watch_weight if kind == "watch" and watch_ms >= f.long_watch_ms else weight.get(kind, 0.0)
        age = (end - datetime.fromisoformat(f"{dt}T00:00:00+00:00") - timedelta(hours=hour)).total_seconds() / 86400
        signal[(user, item)] = signal.get((user, item), 0.0) + w * 0.5 ** (age / f.half_life_days)
    out = {}
    for user in sorted({u for u, _ in signal}):
        mine = {i: s for (u, i), s in signal.items() if u == user and i in covers}
        pos = {i: s for i, s in mine.items() if s > 0}
        neg = {i: -s for i, s in mine.items() if s < 0}
        support = sum(pos.values())
        if support < f.min_support or not pos:
            out[user] = {"is_cold": True, "support": support}
            continue
        taste = sum(s * covers[i] for i, s in pos.items()) / support
        if neg:
            taste = taste - f.skip_push * sum(s * covers[i] for i, s in neg.items()) / sum(neg.values())
        out[user] = {"is_cold": False, "support": support, "taste": unit(taste)}
    return out


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("weighted").as_uri()
    config = PipelineConfig(root=root, features=FEATURES)
    events = planted_events()
    write_lake(root, events)
    frames = make_frames()
    counts = build_user_features(spark, config, DAY, frames)
    layout = Layout(root)
    return {
        "config": config, "frames": frames, "counts": counts, "events": events,
        "users": {r["user_id"]: r for r in read_parquet(layout.user_features(DAY)).to_pylist()},
        "worklist": read_parquet(layout.worklist(run_id_for(DAY))),
    }


@pytest.mark.spark
def test_weighted_taste_matches_the_formula(world):
    users, expected = world["users"], weighted_reference(world["frames"], world["events"], FEATURES)
    assert sorted(users) == sorted(expected)
    for user, want in expected.items():
        got = users[user]
        assert got["is_cold"] == want["is_cold"], user
        assert got["support"] == pytest.approx(want["support"], abs=1e-9), user
        taste = np.asarray(got["taste"], np.float64)
        assert np.isfinite(taste).all() and abs(np.linalg.norm(taste) - 1) < 1e-5, user
        if not want["is_cold"]:
            np.testing.assert_allclose(taste, want["taste"], atol=1e-5, err_msg=user)
    assert sorted(u for u, r in users.items() if r["is_cold"]) == ["clicker", "stale"]
    # skips push away: an A-fan's taste is further from the B look than the plain mean of its likes
    covers = {r["item_id"]: np.asarray(r["embedding"]) for r in world["frames"].to_pylist() if r["frame_idx"] == -1}
    plain = unit(np.mean([covers[i] for i in ("a0", "a1", "a2")], axis=0))
    b_look = unit(np.mean([covers[i] for i in B_ITEMS], axis=0))
    assert np.dot(users["fa1"]["taste"], b_look) < np.dot(plain, b_look)


@pytest.mark.spark
def test_clusters_separate_the_planted_groups(world):
    users = world["users"]
    cluster = {u: r["cluster"] for u, r in users.items()}
    assert len({cluster[u] for u in ("fa1", "fa2", "fa3", "fa4")}) == 1
    assert len({cluster[u] for u in ("fb1", "fb2", "fb3", "fb4", "watcher")}) == 1
    assert cluster["fa1"] != cluster["fb1"]
    assert world["counts"]["clusters"] == 2
    assert {r["cluster"] for r in world["worklist"].to_pylist()} <= {0, 1}


@pytest.mark.spark
def test_als_is_a_second_retriever_and_the_worklist_says_who_proposed(world):
    rows = world["worklist"].to_pylist()
    seen = {(e[1], e[2]) for e in world["events"] if e[0] <= DAY}
    assert not any((r["user_id"], r["item_id"]) in seen for r in rows)
    by_user: dict[str, list[dict]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    for user, mine in by_user.items():
        mine.sort(key=lambda r: r["rank"])
        assert [r["rank"] for r in mine] == list(range(1, len(mine) + 1)), user
        assert len({r["item_id"] for r in mine}) == len(mine), user  # one row per pair
        primary = [r for r in mine if r["retriever"] != "als"]
        assert len(primary) == TOP_K and mine[:TOP_K] == primary, user  # primary list first, then ALS extras
        base = "popular" if mine[0]["is_cold"] else "taste_knn"
        assert {r["retriever"] for r in primary} <= {base, base + "+als"}, user
        proposed = [r for r in mine if "als" in r["retriever"]]
        assert 0 < len(proposed) <= ALS_K, user
        assert all(r["als_score"] is not None for r in proposed), user
        assert all(r["als_score"] is None for r in mine if "als" not in r["retriever"]), user
    # fa4's peers all liked a2 as well: collaborative filtering proposes it
    assert any(r["item_id"] == "a2" and "als" in r["retriever"] for r in by_user["fa4"])
    # the clicker has no taste of their own, yet ALS knows their click
    assert by_user["clicker"][0]["is_cold"] and any("als" in r["retriever"] for r in by_user["clicker"])
    assert set(world["counts"]["rows_per_retriever"]) <= {"taste_knn", "taste_knn+als", "popular",
                                                          "popular+als", "als"}
    assert sum(world["counts"]["rows_per_retriever"].values()) == len(rows)


@pytest.mark.spark
@pytest.mark.slow
def test_rerun_with_als_and_kmeans_is_byte_identical(spark, world):
    layout = Layout(world["config"].root)
    before = (read_parquet(layout.user_features(DAY)), world["worklist"])
    assert build_user_features(spark, world["config"], DAY, world["frames"]) == world["counts"]
    assert read_parquet(layout.user_features(DAY)).equals(before[0])
    assert read_parquet(layout.worklist(run_id_for(DAY))).equals(before[1])


def test_config_rejects_unknown_taste_mode():
    with pytest.raises(ValueError, match="taste_mode"):
        PipelineConfig.from_dict({"features": {"taste_mode": "magic"}})
