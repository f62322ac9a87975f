"""User taste vectors, top-K candidates and shards: lake + frame embeddings -> worklist.

Taste (the paper's reference, kept exactly): taste(u) = L2-normalised mean of the COVER
embeddings (``frame_idx == -1``) of the distinct items ``u`` liked (``event_type == "like"``)
in lake partitions ``dt <= date`` (point in time: a backfill of date D never sees what
arrived later). Only items present in ``frames`` count: the others were quarantined by the
frame stage. ``n_likes`` is the number of liked items that counted.

Cold start: the official code returns NaN for users without likes. Here a user with
events but no counted like gets the GLOBAL taste, the L2-normalised mean of the covers over
all (user, liked item) pairs — i.e. covers weighted by how many users liked them — and
``is_cold = true``. If nobody liked anything yet, the global taste is the normalised mean
of all covers (then of all item embeddings if there are no covers). Never NaN.

Candidates: the top-K (``config.features.top_k``) items the user has NOT interacted with
(any event type, dt <= date). Warm users: ranked by cosine(taste, item embedding), where
an item's embedding is the L2-normalised mean of its sampled frames (``frame_idx >= 0``);
retriever ``taste_knn``. Cold users: ranked by popularity (number of distinct users who
liked the item), score = that count; retriever ``popular``. Ties break on item_id so the
ranking is deterministic. Items without sampled frames are never candidates (there is
nothing to personalise), but their covers still count toward taste.

How it scales: interactions never reach the driver. Spark reduces them to distinct
(user, item, liked) pairs, then ``applyInPandas`` per user scores against a broadcast
float32 item matrix (the frames table is already in driver memory, so the item matrix is
the small side). Brute-force scoring is O(items x dim) per user; at catalogue sizes where
that hurts, swap the scorer for an ANN index without touching the rest.

Shard: ``int(sha256(user_id utf-8)[:8 hex], 16) % shards``, computed in Spark SQL with the
built-ins ``sha2``/``conv`` (no Python per row); ``shard_of`` is the same function in
Python for stages that need it outside Spark. Both are stable across processes and
platforms (unlike Python's ``hash`` or Spark's Murmur3 seed choice).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from generec_core.config import PipelineConfig
from generec_core.layout import Layout, run_id_for
from generec_core.spark.ingest import parse_date, read_lake_interactions
from generec_core.spark.session import spark_path

COVER_FRAME_IDX = -1
TASTE_KNN, POPULAR = "taste_knn", "popular"
_EPS = 1e-12

USER_FEATURE_COLUMNS: tuple[str, ...] = ("user_id", "taste", "n_likes", "is_cold")
WORKLIST_COLUMNS: tuple[str, ...] = (
    "user_id", "item_id", "shard", "retriever", "candidate_score", "rank", "is_cold")

_SCORED_SCHEMA = T.StructType([
    T.StructField("user_id", T.StringType()),
    T.StructField("taste", T.ArrayType(T.FloatType())),
    T.StructField("n_likes", T.IntegerType()),
    T.StructField("is_cold", T.BooleanType()),
    T.StructField("retriever", T.StringType()),
    T.StructField("cand_item_ids", T.ArrayType(T.StringType())),
    T.StructField("cand_scores", T.ArrayType(T.DoubleType())),
])


def shard_of(user_id: str, shards: int) -> int:
    """Stable shard of a user: first 8 hex digits of sha256(user_id) mod ``shards``."""
    return int(hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:8], 16) % shards


def shard_column(user_id: Column, shards: int) -> Column:
    """``shard_of`` as a Spark expression (built-ins only, so no Python worker per row)."""
    prefix = F.substring(F.sha2(user_id, 256), 1, 8)
    return (F.conv(prefix, 16, 10).cast("long") % F.lit(shards)).cast("int")


def _normalise_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised copy and a mask of rows whose norm was usable."""
    norms = np.linalg.norm(matrix, axis=1)
    ok = norms > _EPS
    out = np.zeros_like(matrix)
    out[ok] = matrix[ok] / norms[ok, None]
    return out, ok


def _group_mean(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ids and the (float64) mean vector of each id's rows."""
    unique, inverse = np.unique(ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inverse[order]) != 0])
    sums = np.add.reduceat(vectors[order].astype(np.float64), starts, axis=0)
    counts = np.diff(np.r_[starts, len(order)])
    return unique, sums / counts[:, None]


@dataclass(frozen=True)
class ItemIndex:
    """The embeddings the scorer needs, built once on the driver and broadcast.

    ``item_ids`` (sorted) / ``item_matrix``: candidate items, L2-normalised mean of frames.
    ``cover_ids`` (sorted) / ``cover_matrix``: cover embedding per item (mean if several rows).
    """

    item_ids: np.ndarray
    item_matrix: np.ndarray
    cover_ids: np.ndarray
    cover_matrix: np.ndarray

    @classmethod
    def from_frames(cls, frames: pa.Table) -> "ItemIndex":
        """Validate the frame-embedding table and reduce it to per-item vectors.

        Rows with a null or non-finite embedding are dropped (that frame is unusable, the
        item may still have others); inconsistent dimensions are an error (a mixed-encoder
        table would make every cosine meaningless).
        """
        missing = {"item_id", "frame_idx", "embedding"} - set(frames.column_names)
        if missing:
            raise ValueError(f"frames table lacks column(s) {sorted(missing)}; has {frames.column_names}")
        frames = frames.filter(pc.is_valid(frames.column("embedding")))
        if frames.num_rows == 0:
            raise ValueError("frames table has no embeddings: nothing to build tastes or candidates from")
        embedding = frames.column("embedding").combine_chunks()
        lengths = pc.list_value_length(embedding).to_numpy(zero_copy_only=False)
        if lengths.min() != lengths.max() or lengths[0] == 0:
            raise ValueError(f"frames table mixes embedding dims {sorted(set(lengths.tolist()))}")
        vectors = np.asarray(embedding.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        vectors = vectors.reshape(frames.num_rows, int(lengths[0]))
        ids = np.asarray(frames.column("item_id").to_pylist(), dtype=object)
        frame_idx = frames.column("frame_idx").to_numpy(zero_copy_only=False)
        finite = np.isfinite(vectors).all(axis=1) & np.array([i is not None for i in ids])
        ids, frame_idx, vectors = ids[finite], frame_idx[finite], vectors[finite]

        def reduce(mask: np.ndarray, normalise: bool) -> tuple[np.ndarray, np.ndarray]:
            if not mask.any():
                return np.array([], dtype=object), np.zeros((0, vectors.shape[1]), np.float32)
            unique, means = _group_mean(ids[mask], vectors[mask])
            if normalise:
                means, ok = _normalise_rows(means)
                unique, means = unique[ok], means[ok]
            return unique, means.astype(np.float32)

        item_ids, item_matrix = reduce(frame_idx >= 0, normalise=True)
        cover_ids, cover_matrix = reduce(frame_idx == COVER_FRAME_IDX, normalise=False)
        return cls(item_ids, item_matrix, cover_ids, cover_matrix)

    def global_taste(self, cover_like_counts: np.ndarray) -> np.ndarray:
        """Cold-start taste: like-weighted mean of covers, with defined fallbacks (never NaN)."""
        candidates = []
        if len(self.cover_ids) and cover_like_counts.sum() > 0:
            candidates.append(cover_like_counts @ self.cover_matrix.astype(np.float64))
        if len(self.cover_ids):
            candidates.append(self.cover_matrix.astype(np.float64).mean(axis=0))
        if len(self.item_ids):
            candidates.append(self.item_matrix.astype(np.float64).mean(axis=0))
        for vector in candidates:
            norm = np.linalg.norm(vector)
            if norm > _EPS:
                return (vector / norm).astype(np.float32)
        raise ValueError("frames table yields no usable (non-zero) embedding for a fallback taste")


@dataclass(frozen=True)
class Scorer:
    """Everything one user's scoring needs; shipped to executors as one broadcast."""

    index: ItemIndex
    popularity: np.ndarray  # like count per candidate item (aligned with item_ids)
    popular_order: np.ndarray  # candidate positions by (-popularity, item_id)
    global_taste: np.ndarray
    top_k: int

    def score_user(self, user_id: str, items: pd.Series, liked: pd.Series) -> dict:
        idx = self.index
        liked_items = np.asarray(items[liked.astype(bool)].unique(), dtype=object)
        cover_pos = np.searchsorted(idx.cover_ids, liked_items) if len(idx.cover_ids) else np.array([], int)
        hit = cover_pos < len(idx.cover_ids)
        hit[hit] = idx.cover_ids[cover_pos[hit]] == liked_items[hit]
        cover_pos = cover_pos[hit]

        taste = None
        if len(cover_pos):
            mean = idx.cover_matrix[cover_pos].astype(np.float64).mean(axis=0)
            norm = np.linalg.norm(mean)
            if norm > _EPS:  # opposite covers could cancel exactly: then treat as cold
                taste = (mean / norm).astype(np.float32)

        seen = np.zeros(len(idx.item_ids), dtype=bool)
        seen_items = np.asarray(items.unique(), dtype=object)
        pos = np.searchsorted(idx.item_ids, seen_items) if len(idx.item_ids) else np.array([], int)
        known = pos < len(idx.item_ids)
        known[known] = idx.item_ids[pos[known]] == seen_items[known]
        seen[pos[known]] = True

        if taste is not None:
            scores = (idx.item_matrix @ taste).astype(np.float64)
            order = np.argsort(-scores, kind="stable")  # stable on sorted ids: ties -> item_id
            retriever = TASTE_KNN
        else:
            scores = self.popularity
            order = self.popular_order
            retriever = POPULAR
        chosen = order[~seen[order]][: self.top_k]
        return {
            "user_id": user_id,
            "taste": (taste if taste is not None else self.global_taste).tolist(),
            "n_likes": int(len(cover_pos)),
            "is_cold": taste is None,
            "retriever": retriever,
            "cand_item_ids": idx.item_ids[chosen].tolist(),
            "cand_scores": [float(s) for s in scores[chosen]],
        }


def _build_scorer(index: ItemIndex, like_counts: dict[str, int], top_k: int) -> Scorer:
    popularity = np.array([like_counts.get(i, 0) for i in index.item_ids], dtype=np.float64)
    positions = np.arange(len(index.item_ids))
    popular_order = np.lexsort((positions, -popularity))  # last key is primary
    cover_counts = np.array([like_counts.get(i, 0) for i in index.cover_ids], dtype=np.float64)
    return Scorer(index, popularity, popular_order, index.global_taste(cover_counts), top_k)


def _user_item_pairs(spark: SparkSession, config: PipelineConfig, date: str) -> DataFrame:
    """Distinct (user, item, liked) up to ``date``: the only shape of the log scoring needs."""
    lake = read_lake_interactions(spark, config.root)
    if lake is None:
        raise FileNotFoundError(
            f"no cleaned interactions at {Layout(config.root).lake_interactions()}: run the ingest first")
    return (lake.where(F.col("dt") <= date)
            .groupBy("user_id", "item_id")
            .agg(F.max((F.col("event_type") == "like").cast("int")).alias("liked")))


def build_user_features(spark: SparkSession, config: PipelineConfig, date: str, frames: pa.Table) -> dict:
    """Write ``features/users/dt=<date>`` and the run's worklist; return (and store) the counts.

    Counts: users, cold_users, worklist_rows, rows_per_shard {shard: n} (every shard listed,
    zeros included, so the orchestrator can map over a fixed set).
    """
    parse_date(date)
    layout = Layout(config.root)
    run_id = run_id_for(date)
    shards = config.features.shards
    index = ItemIndex.from_frames(frames)

    pairs = _user_item_pairs(spark, config, date).persist()
    try:
        like_counts = {r["item_id"]: r["n"] for r in (
            pairs.where(F.col("liked") == 1).groupBy("item_id").agg(F.count(F.lit(1)).alias("n")).collect())}
        broadcast = spark.sparkContext.broadcast(_build_scorer(index, like_counts, config.features.top_k))

        def score(key: tuple, group: pd.DataFrame) -> pd.DataFrame:
            row = broadcast.value.score_user(key[0], group["item_id"], group["liked"])
            return pd.DataFrame([row])

        scored = (pairs.groupBy("user_id").applyInPandas(score, schema=_SCORED_SCHEMA)
                  .withColumn("shard", shard_column(F.col("user_id"), shards))
                  .persist())
        try:
            stats = (scored.groupBy("shard")
                     .agg(F.count(F.lit(1)).alias("users"),
                          F.sum(F.col("is_cold").cast("long")).alias("cold"),
                          F.sum(F.size("cand_item_ids")).alias("rows"))
                     .collect())
            (scored.select(*USER_FEATURE_COLUMNS).repartition("user_id").sortWithinPartitions("user_id")
             .write.mode("overwrite").parquet(spark_path(layout.user_features(date))))
            worklist = (scored
                        .select("user_id", "shard", "retriever", "is_cold", "cand_scores",
                                F.posexplode("cand_item_ids").alias("pos", "item_id"))
                        .withColumn("candidate_score", F.col("cand_scores")[F.col("pos")])
                        .withColumn("rank", (F.col("pos") + 1).cast("int")))
            (worklist.select(*WORKLIST_COLUMNS).repartition("shard").sortWithinPartitions("shard", "user_id", "rank")
             .write.mode("overwrite").parquet(spark_path(layout.worklist(run_id))))
        finally:
            scored.unpersist()
            broadcast.unpersist()
    finally:
        pairs.unpersist()

    per_shard = {str(s): 0 for s in range(shards)}
    for row in stats:
        per_shard[str(row["shard"])] = int(row["rows"] or 0)
    counts = {
        "dt": date,
        "users": sum(int(r["users"]) for r in stats),
        "cold_users": sum(int(r["cold"] or 0) for r in stats),
        "worklist_rows": sum(per_shard.values()),
        "rows_per_shard": per_shard,
    }
    return counts
