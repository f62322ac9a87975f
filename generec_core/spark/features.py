"""User taste vectors, taste clusters, candidates and shards: lake + item vectors -> worklist.

Point in time: everything for date D reads lake partitions ``dt <= D`` only, and recency is
measured from D's interval end, so a backfill of D never sees what arrived later and a
re-run of D gives the same rows.

Per (user, item) the lake is reduced to ``liked`` (any ``like`` event) and ``signal`` =
sum over the pair's events of weight(event) * 0.5 ** (age_days / half_life_days), with
weights like > share > click > long watch (a ``watch`` of at least ``long_watch_ms``), a
negative weight for ``skip`` and 0 for impressions and short watches (``config.features``).
The sum is taken in DECIMAL, which is associative, so the shuffle's order of partial sums
cannot change the last bits between runs.

Taste (``config.features.taste_mode``), always from COVER embeddings (``frame_idx == -1``)
of items present in ``frames`` (the others were quarantined by the frame stage):

* ``paper`` — the reference, exactly: L2-normalised mean of the covers of the distinct
  items the user liked. ``support`` = ``n_likes`` = number of liked items that counted.
* ``weighted`` (default) — Rocchio: P = signal-weighted mean of the covers of items with
  signal > 0, N = |signal|-weighted mean of covers with signal < 0 (net skipped items),
  taste = unit(P - skip_push * N). ``support`` = the positive signal; a user needs
  ``support >= min_support`` for an own taste, so one stale click does not define a taste.
  Why Rocchio rather than a plain signed sum: users skip far more than they like, and a
  sum would let many skips swamp the few likes; with centroids the likes always lead.

Cold start (either mode): the paper's code returns NaN for users without likes. Here a user
without an own taste gets the GLOBAL taste, the L2-normalised mean of the covers over all
(user, liked item) pairs (covers weighted by how many users liked them), ``is_cold = true``.
If nobody liked anything yet it is the mean of all covers, then of all item embeddings.
Never NaN.

Clusters: Spark MLlib k-means (cosine distance, fixed seed) over the tastes of warm users;
every user, cold ones included, gets the nearest centre as ``cluster`` (cold users share
the global taste, so they share a cluster). Cluster-level generation reads this column.

Candidates (the worklist), unseen items only (any event type, dt <= D), items with sampled
frames only (there is nothing to personalise otherwise):

* primary retriever, top ``top_k``: warm users by cosine(taste, item embedding) where an
  item's embedding is the L2-normalised mean of its sampled frames (``taste_knn``); cold
  users by popularity = number of distinct users who liked the item (``popular``).
* second retriever, top ``als_top_k``: Spark MLlib ALS with implicit feedback trained on the
  pair signals (skips are negative preferences; users or items with no positive signal are left
  out), score = user factor . item factor
  (``als``). It reaches users the taste cannot (a cold user who only clicked) and items
  that are co-consumed without looking alike.

The user's list is the primary top-K, then the ALS items not already in it. ``retriever``
says who proposed the pair (``taste_knn``, ``popular``, ``als``, or ``taste_knn+als`` /
``popular+als`` when both did); ``rank`` is the position in that list; ``candidate_score``
is the primary scorer's score of the pair (cosine for warm users, like count for cold ones)
so it is comparable within a user; ``als_score`` is set where ALS proposed the pair. Ties
break on item_id, so rankings are deterministic.

How it scales: interactions never reach the driver. Spark reduces them to per-user sorted
arrays of (item, liked, signal); ``mapInPandas`` scores whole Arrow batches of users with
sparse x dense products against the broadcast item matrices (the small side), a bounded
block of users at a time. Brute-force scoring is O(items x dim) per user; from
``ann_min_items`` items on, the driver builds a faiss IVF index of the item matrix once
(``retrieval.ann``), broadcasts it with the scorer, and warm users' top-K comes from it
(re-ranked by the exact cosine of what it found); cold users' popularity top-K walks the
popularity order past their seen items. Smaller catalogues (the demo's) are scored exactly.

Taste weights: the positive per-pair weights the taste was made from (``paper``: 1 per liked item;
``weighted``: the signal where it is > 0), so generation weighs a group's liked covers exactly as
the taste does, recency included.

Shard: ``int(sha256(user_id utf-8)[:8 hex], 16) % shards``, computed in Spark SQL with the
built-ins ``sha2``/``conv`` (no Python per row); ``identifiers.shard_of`` is the same function in
Python (the frames and audit stages shard items and assets with it). Both are stable across processes and
platforms (unlike Python's ``hash`` or Spark's Murmur3 seed choice).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import cached_property
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy import sparse

from generec_core.config import FeaturesConfig
from generec_core.datasets.item_vectors import summarise
from generec_core.datasets.users import USER_FEATURE_COLUMNS, WORKLIST_COLUMNS
from generec_core.identifiers import shard_of  # noqa: F401 - the Python twin of shard_column (tests, benchmarks)
from generec_core.retrieval.ann import AnnIndex
from generec_core.spark.ingest import parse_date

TASTE_KNN, POPULAR, ALS = "taste_knn", "popular", "als"
_EPS = 1e-12
_BLOCK_CELLS = 2_000_000  # users x items scores held at once while scoring a batch

_SCORED_SCHEMA = T.StructType([
    T.StructField("user_id", T.StringType()),
    T.StructField("taste", T.ArrayType(T.FloatType())),
    T.StructField("n_likes", T.IntegerType()),
    T.StructField("support", T.DoubleType()),
    T.StructField("is_cold", T.BooleanType()),
    T.StructField("cand_item_ids", T.ArrayType(T.StringType())),
    T.StructField("cand_retrievers", T.ArrayType(T.StringType())),
    T.StructField("cand_scores", T.ArrayType(T.DoubleType())),
    T.StructField("cand_als", T.ArrayType(T.DoubleType())),
])


def shard_column(user_id: Column, shards: int) -> Column:
    """``shard_of`` as a Spark expression (built-ins only, so no Python worker per row)."""
    prefix = F.substring(F.sha2(user_id, 256), 1, 8)
    return (F.conv(prefix, 16, 10).cast("long") % F.lit(shards)).cast("int")


def interval_end(date: str) -> datetime:
    """End of the date's data interval: the "now" of point-in-time features."""
    return datetime.combine(parse_date(date), time(0), tzinfo=timezone.utc) + timedelta(days=1)


def event_weight(features: FeaturesConfig) -> Column:
    """Weight of one lake event in the pair signal (before recency decay)."""
    kind = F.col("event_type")
    return (F.when(kind == "like", F.lit(features.like_weight))
            .when(kind == "share", F.lit(features.share_weight))
            .when(kind == "click", F.lit(features.click_weight))
            .when((kind == "watch") & (F.col("watch_ms") >= features.long_watch_ms), F.lit(features.long_watch_weight))
            .when(kind == "skip", F.lit(features.skip_weight))
            .otherwise(F.lit(0.0)))


def _normalise_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised copy and a mask of rows whose norm was usable."""
    norms = np.linalg.norm(matrix, axis=1)
    ok = norms > _EPS
    out = np.zeros_like(matrix)
    out[ok] = matrix[ok] / norms[ok, None]
    return out, ok


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best finite scores, by (-score, position): exact ties go to the lower id."""
    valid = np.flatnonzero(scores > -np.inf)
    if len(valid) > k:
        kth = np.partition(scores[valid], len(valid) - k)[len(valid) - k]
        valid = valid[scores[valid] >= kth]  # keeps every tie at the boundary for the exact sort
    return valid[np.lexsort((valid, -scores[valid]))][:k]


def _stacked(ids: np.ndarray, column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The ids whose vector is set, and those vectors as one float32 matrix (same dimension required)."""
    present = column.is_valid().to_numpy(zero_copy_only=False)
    values = column.filter(pa.array(present)).combine_chunks()
    lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
    if not len(values):
        return np.array([], dtype=object), np.zeros((0, 0), np.float32)
    if lengths.min() != lengths.max() or lengths[0] == 0:
        raise ValueError(f"item vectors mix embedding dims {sorted(set(lengths.tolist()))}")
    flat = np.asarray(values.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    return ids[present], flat.reshape(len(values), int(lengths[0]))


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

    @property
    def dim(self) -> int:
        return int(self.item_matrix.shape[1] if len(self.item_ids) else self.cover_matrix.shape[1])

    @classmethod
    def from_table(cls, table: pa.Table) -> "ItemIndex":
        """From item vectors (``datasets.item_vectors``, what the stage reads) or from frame rows."""
        return cls.from_frames(table) if "frame_idx" in table.column_names else cls.from_vectors(table)

    @classmethod
    def from_frames(cls, frames: pa.Table) -> "ItemIndex":
        """Reduce frame rows to item vectors (``item_vectors.summarise``, the one definition), then index them."""
        return cls.from_vectors(summarise(frames))

    @classmethod
    def from_vectors(cls, vectors: pa.Table) -> "ItemIndex":
        """Index per-item vectors: items with a frames vector are candidates, items with a cover count in
        tastes. One row per item; inconsistent dimensions are an error."""
        missing = {"item_id", "cover", "frames_mean"} - set(vectors.column_names)
        if missing:
            raise ValueError(f"item vectors table lacks column(s) {sorted(missing)}; has {vectors.column_names}")
        if vectors.num_rows == 0:
            raise ValueError("frames table has no embeddings: nothing to build tastes or candidates from")
        ids = np.asarray(vectors.column("item_id").to_pylist(), dtype=object)
        if len(set(ids.tolist())) != len(ids) or any(i is None for i in ids):
            raise ValueError("item vectors table must hold one row per item, each with an item_id")
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors.take(pa.array(order))
        item_ids, item_matrix = _stacked(ids, vectors.column("frames_mean"))
        cover_ids, cover_matrix = _stacked(ids, vectors.column("cover"))
        dims = {m.shape[1] for m in (item_matrix, cover_matrix) if len(m)}
        if len(dims) != 1:
            raise ValueError(f"item vectors mix embedding dims {sorted(dims)}" if dims else
                             "frames table has no embeddings: nothing to build tastes or candidates from")
        dim = dims.pop()
        return cls(item_ids, item_matrix.reshape(-1, dim), cover_ids, cover_matrix.reshape(-1, dim))

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
    """Everything scoring needs, shipped to executors as one broadcast; scores batches of users."""

    index: ItemIndex
    features: FeaturesConfig
    popularity: np.ndarray  # distinct likers per candidate item (aligned with item_ids)
    global_taste: np.ndarray
    als_items: np.ndarray | None  # ALS item factors aligned with item_ids; NaN rows: not in ALS
    ann: AnnIndex | None = None  # over item_matrix: warm users' top-K from it instead of exact scoring

    @cached_property
    def _covers64(self) -> np.ndarray:
        """Covers in float64 for the sparse products, converted once per executor, not per block."""
        return self.index.cover_matrix.astype(np.float64)

    @cached_property
    def _popular_order(self) -> np.ndarray:
        """Item positions by (-popularity, position): the cold users' ranking, as ``_top_k`` breaks ties."""
        return np.lexsort((np.arange(len(self.popularity)), -self.popularity))

    def score_batch(self, users: pd.DataFrame) -> pd.DataFrame:
        """One output row per input user (columns of ``_SCORED_SCHEMA``), block by block."""
        block = max(1, _BLOCK_CELLS // max(len(self.index.item_ids), self.index.dim, 1))
        parts = [self._score_block(users.iloc[s:s + block]) for s in range(0, len(users), block)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_SCORED_SCHEMA.names)

    def _tastes(self, n_users: int, rows: np.ndarray, cover_pos: np.ndarray, liked: np.ndarray,
                signal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tastes float32 with the fallback filled in, n_likes, support, warm mask) for a block."""
        covers = self._covers64
        shape = (n_users, len(self.index.cover_ids))
        has_cover = cover_pos >= 0

        def weighted_mean(mask: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            matrix = sparse.csr_matrix((weights[mask], (rows[mask], cover_pos[mask])), shape=shape)
            total = np.asarray(matrix.sum(axis=1)).ravel()
            sums = np.asarray(matrix @ covers) if shape[1] else np.zeros((n_users, self.index.dim))
            return sums / np.maximum(total, _EPS)[:, None], total

        liked_mask = liked & has_cover
        n_likes = np.bincount(rows[liked_mask], minlength=n_users)
        if self.features.taste_mode == "paper":
            raw, support = weighted_mean(liked_mask, np.ones(len(rows)))
            enough = support > 0
        else:
            raw, support = weighted_mean(has_cover & (signal > 0), signal)
            pushed, negative = weighted_mean(has_cover & (signal < 0), -signal)
            raw = raw - self.features.skip_push * pushed * (negative > 0)[:, None]
            enough = (support > 0) & (support >= self.features.min_support)
        tastes, usable = _normalise_rows(raw)
        warm = enough & usable  # opposite covers could cancel exactly: then treat as cold
        tastes = np.where(warm[:, None], tastes, self.global_taste[None, :]).astype(np.float32)
        return tastes, n_likes, support, warm

    def _score_block(self, block: pd.DataFrame) -> pd.DataFrame:
        idx, k_primary, k_als = self.index, self.features.top_k, self.features.als_top_k
        n_users = len(block)
        lengths = np.fromiter((len(x) for x in block["item_ids"]), dtype=np.int64, count=n_users)
        rows = np.repeat(np.arange(n_users), lengths)

        def flat(column: str, dtype) -> np.ndarray:
            return np.concatenate(block[column].to_list()).astype(dtype) if lengths.sum() else np.zeros(0, dtype)

        items = flat("item_ids", object)
        cover_pos = pd.Index(idx.cover_ids).get_indexer(items)
        item_pos = pd.Index(idx.item_ids).get_indexer(items)
        tastes, n_likes, support, warm = self._tastes(
            n_users, rows, cover_pos, flat("liked", bool), flat("signal", np.float64))

        seen = np.zeros((n_users, len(idx.item_ids)), dtype=bool)
        known = item_pos >= 0
        seen[rows[known], item_pos[known]] = True
        if self.ann is None:
            cosine = (tastes @ idx.item_matrix.T).astype(np.float64)
            primary = np.where(warm[:, None], cosine, self.popularity[None, :])
            primary[seen] = -np.inf
            top = [_top_k(primary[u], k_primary) for u in range(n_users)]
        else:
            top, cosine = self._ann_top_k(tastes, warm, rows[known], item_pos[known]), None
        als = self._als_scores(block, seen)

        out = []
        for u in range(n_users):
            chosen = top[u]
            by_als = _top_k(als[u], k_als) if als is not None and k_als else np.zeros(0, np.int64)
            extra = by_als[~np.isin(by_als, chosen)]
            merged = np.concatenate([chosen, extra]).astype(np.int64)
            base = TASTE_KNN if warm[u] else POPULAR
            from_als = np.isin(merged, by_als)
            names = [base + "+" + ALS if a else base for a in from_als[: len(chosen)]] + [ALS] * len(extra)
            out.append({
                "user_id": block["user_id"].iat[u],
                "taste": tastes[u].tolist(),
                "n_likes": int(n_likes[u]),
                "support": float(support[u]),
                "is_cold": not bool(warm[u]),
                "cand_item_ids": idx.item_ids[merged].tolist(),
                "cand_retrievers": names,
                "cand_scores": self._primary_scores(tastes[u], bool(warm[u]), merged,
                                                    None if cosine is None else cosine[u]),
                "cand_als": [float(als[u, m]) if a else None for m, a in zip(merged, from_als)],
            })
        return pd.DataFrame(out, columns=_SCORED_SCHEMA.names)

    def _ann_top_k(self, tastes: np.ndarray, warm: np.ndarray, seen_rows: np.ndarray,
                   seen_pos: np.ndarray) -> list[np.ndarray]:
        """The primary top-K per user without scoring every item: the ANN index for warm users
        (its finds re-ranked by exact cosine, ties to the lower position), the popularity order
        for cold ones. ``seen_rows`` (sorted) / ``seen_pos``: the block's seen (user, item position)."""
        k = self.features.top_k
        seen = np.split(seen_pos, np.cumsum(np.bincount(seen_rows, minlength=len(tastes)))[:-1])
        top: list[np.ndarray] = [np.zeros(0, np.int64)] * len(tastes)
        warm_users = np.flatnonzero(warm)
        found = self.ann.search(tastes[warm_users], k, [seen[u] for u in warm_users]) if len(warm_users) else []
        for u, positions in zip(warm_users, found):
            scores = self.index.item_matrix[positions] @ tastes[u]
            top[u] = positions[np.lexsort((positions, -scores))]
        order = self._popular_order
        for u in np.flatnonzero(~warm):
            head = order[: k + len(seen[u])]  # at most len(seen[u]) of them are dropped
            top[u] = head[~np.isin(head, seen[u])][:k]
        return top

    def _primary_scores(self, taste: np.ndarray, warm: bool, merged: np.ndarray,
                        cosine: np.ndarray | None) -> list[float]:
        """``cand_scores``: cosine for a warm user (from the block's scores, or computed for the
        merged items when the ANN index chose them), like count for a cold one."""
        if not warm:
            return [float(s) for s in self.popularity[merged]]
        if cosine is None:
            return [float(s) for s in (self.index.item_matrix[merged] @ taste).astype(np.float64)]
        return [float(s) for s in cosine[merged]]

    def _als_scores(self, block: pd.DataFrame, seen: np.ndarray) -> np.ndarray | None:
        """user factor . item factor for the block; -inf where seen, unknown to ALS, or no factor."""
        if self.als_items is None or "als_factor" not in block:
            return None
        rank = self.als_items.shape[1]
        factors = np.array([np.full(rank, np.nan) if f is None else np.asarray(f, np.float64)
                            for f in block["als_factor"]], dtype=np.float64).reshape(len(block), rank)
        with np.errstate(invalid="ignore"):
            scores = factors @ self.als_items.astype(np.float64).T
        scores[~np.isfinite(scores) | seen] = -np.inf
        return scores


def _pairs(lake: DataFrame, features: FeaturesConfig, date: str) -> DataFrame:
    """Distinct (user, item) up to ``date`` with ``liked`` and the decayed ``signal``."""
    age_days = F.greatest(F.lit(0.0), (F.lit(interval_end(date).timestamp() * 1e6) - F.unix_micros("ts")) / 86400e6)
    decayed = event_weight(features) * F.pow(F.lit(0.5), age_days / F.lit(features.half_life_days))
    return (lake.where(F.col("dt") <= date)
            .groupBy("user_id", "item_id")
            .agg(F.max((F.col("event_type") == "like").cast("int")).alias("liked"),
                 F.sum(decayed.cast("decimal(38,18)")).cast("double").alias("signal")))


def _taste_weights(pairs: DataFrame, features: FeaturesConfig) -> DataFrame:
    """(user, item, weight > 0): what each pair weighs in the user's taste (module docstring)."""
    weight = (F.col("liked").cast("double") if features.taste_mode == "paper" else F.col("signal"))
    return (pairs.select("user_id", "item_id", weight.alias("weight")).where(F.col("weight") > 0)
            .repartition("user_id").sortWithinPartitions("user_id", "item_id"))


def _dense_ids(spark: SparkSession, frame: DataFrame, column: str, name: str) -> DataFrame:
    """(value, int id) by sorted value: ALS needs int ids, and sorted ids keep its blocks stable."""
    ordered = frame.select(column).distinct().orderBy(column)
    rows = ordered.rdd.zipWithIndex().map(lambda pair: (pair[0][0], int(pair[1])))
    return spark.createDataFrame(rows, T.StructType([
        T.StructField(column, T.StringType()), T.StructField(name, T.IntegerType())]))


def _fit_als(spark: SparkSession, pairs: DataFrame, index: ItemIndex,
             features: FeaturesConfig, blocks: int) -> tuple[DataFrame | None, np.ndarray | None]:
    """MLlib ALS (implicit) on the pair signals: (user_id, als_factor) and item factors aligned with the index."""
    from pyspark.ml.recommendation import ALS as MLlibALS

    ratings = pairs.where(F.col("signal") != 0).select("user_id", "item_id", "signal")
    # Spark regularises each row by its count of POSITIVE ratings: a user (or item) with only
    # negative ones would get no regularisation and, in a small catalogue, a singular system.
    # Such users have no preference to model anyway; their skips still count for the others.
    positive = ratings.where(F.col("signal") > 0)
    ratings = (ratings.join(positive.select("user_id").distinct(), "user_id", "left_semi")
               .join(positive.select("item_id").distinct(), "item_id", "left_semi"))
    if ratings.isEmpty():
        return None, None
    users = _dense_ids(spark, ratings, "user_id", "u")
    items = _dense_ids(spark, ratings, "item_id", "i")
    data = ratings.join(users, "user_id").join(items, "item_id").select("u", "i", "signal")
    model = MLlibALS(rank=features.als_rank, maxIter=features.als_iterations, regParam=features.als_reg,
                     alpha=features.als_alpha, implicitPrefs=True, seed=features.seed, userCol="u",
                     itemCol="i", ratingCol="signal", numUserBlocks=blocks, numItemBlocks=blocks).fit(data)
    user_factors = (model.userFactors.join(users, F.col("id") == F.col("u"))
                    .select("user_id", F.col("features").alias("als_factor")))
    item_rows = (model.itemFactors.join(items, F.col("id") == F.col("i"))
                 .select("item_id", "features").collect())
    aligned = np.full((len(index.item_ids), features.als_rank), np.nan, dtype=np.float32)
    positions = pd.Index(index.item_ids).get_indexer([r["item_id"] for r in item_rows])
    for pos, row in zip(positions, item_rows):
        if pos >= 0:
            aligned[pos] = row["features"]
    return user_factors, aligned


def _with_clusters(scored: DataFrame, features: FeaturesConfig, n_warm: int) -> DataFrame:
    """Add ``cluster``: MLlib k-means (cosine) fitted on warm tastes, applied to every user.

    k is capped by the number of warm users; k-means|| may still find fewer distinct centres
    when tastes coincide, so ids are in [0, k) but not every id need be used.
    """
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.functions import array_to_vector

    k = min(features.clusters, n_warm)
    if k < 2:
        return scored.withColumn("cluster", F.lit(0))
    vectors = scored.withColumn("_features", array_to_vector("taste"))
    model = KMeans(k=k, seed=features.seed, distanceMeasure="cosine", maxIter=features.cluster_iterations, featuresCol="_features",
                   predictionCol="_cluster").fit(vectors.where(~F.col("is_cold")))
    clustered = model.transform(vectors).withColumn("cluster", F.col("_cluster").cast("int"))
    return clustered.drop("_features", "_cluster")


@dataclass(frozen=True)
class UserFeatures:
    users: DataFrame  # USER_FEATURE_COLUMNS, partitioned and sorted by user
    taste_weights: DataFrame  # TASTE_WEIGHT_COLUMNS: the positive weight of each (user, item) in the taste
    worklist: DataFrame  # WORKLIST_COLUMNS, partitioned by shard, sorted by (shard, user, rank)
    counts: dict


@contextmanager
def user_features(spark: SparkSession, lake: DataFrame, vectors: pa.Table, features: FeaturesConfig,
                  date: str) -> Iterator[UserFeatures]:
    """Tastes, clusters, candidates and shards for ``date`` from the lake and the items' vectors
    (``datasets.item_vectors``; frame rows work too, reduced the same way: ``ItemIndex.from_table``).

    The results stay cached while the caller writes them and are released on exit. Counts: users,
    cold_users, worklist_rows, rows_per_shard {shard: n} (every shard listed, zeros included, so the
    orchestrator can map over a fixed set), rows_per_retriever, clusters (distinct cluster ids in
    use), taste_mode, dim (the embedding dimension of the tastes).
    """
    parse_date(date)
    index = ItemIndex.from_table(vectors)

    pairs = _pairs(lake, features, date).persist()
    cached: list[DataFrame] = [pairs]
    broadcast = None
    try:
        like_counts = {r["item_id"]: r["n"] for r in (
            pairs.where(F.col("liked") == 1).groupBy("item_id").agg(F.count(F.lit(1)).alias("n")).collect())}
        user_factors, als_items = (_fit_als(spark, pairs, index, features, features.shuffle_partitions)
                                   if features.als_top_k > 0 else (None, None))
        popularity = np.array([like_counts.get(i, 0) for i in index.item_ids], dtype=np.float64)
        cover_counts = np.array([like_counts.get(i, 0) for i in index.cover_ids], dtype=np.float64)
        ann = (AnnIndex.build(index.item_matrix, features.ann_nprobe, features.seed)
               if len(index.item_ids) >= features.ann_min_items else None)
        broadcast = spark.sparkContext.broadcast(
            Scorer(index, features, popularity, index.global_taste(cover_counts), als_items, ann))

        ordered = F.sort_array(F.collect_list(F.struct("item_id", "liked", "signal"))).alias("p")
        users = (pairs.groupBy("user_id").agg(ordered)
                 .select("user_id", F.col("p.item_id").alias("item_ids"), F.col("p.liked").alias("liked"),
                         F.col("p.signal").alias("signal")))
        if user_factors is not None:
            users = users.join(user_factors, "user_id", "left")

        def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            scorer = broadcast.value
            for batch in batches:
                yield scorer.score_batch(batch)

        scored = (users.mapInPandas(score, schema=_SCORED_SCHEMA)
                  .repartition("user_id").sortWithinPartitions("user_id").persist())
        cached.append(scored)
        n_warm = scored.where(~F.col("is_cold")).count()
        clustered = _with_clusters(scored, features, n_warm)
        result = clustered.withColumn("shard", shard_column(F.col("user_id"), features.shards)).persist()
        cached.append(result)

        stats = (result.groupBy("shard")
                 .agg(F.count(F.lit(1)).alias("users"),
                      F.sum(F.col("is_cold").cast("long")).alias("cold"),
                      F.sum(F.size("cand_item_ids")).alias("rows"))
                 .collect())
        n_clusters = result.select("cluster").distinct().count()
        by_retriever = (result.select(F.explode("cand_retrievers").alias("retriever"))
                        .groupBy("retriever").count().collect())
        worklist = (result
                    .select("user_id", "shard", "is_cold", "cluster", "cand_scores", "cand_retrievers", "cand_als",
                            F.posexplode("cand_item_ids").alias("pos", "item_id"))
                    .withColumn("retriever", F.col("cand_retrievers")[F.col("pos")])
                    .withColumn("candidate_score", F.col("cand_scores")[F.col("pos")])
                    .withColumn("als_score", F.col("cand_als")[F.col("pos")])
                    .withColumn("rank", (F.col("pos") + 1).cast("int")))
        per_shard = {str(s): 0 for s in range(features.shards)}
        for row in stats:
            per_shard[str(row["shard"])] = int(row["rows"] or 0)
        yield UserFeatures(
            users=result.select(*USER_FEATURE_COLUMNS).repartition("user_id").sortWithinPartitions("user_id"),
            taste_weights=_taste_weights(pairs, features),
            worklist=(worklist.select(*WORKLIST_COLUMNS).repartition("shard")
                      .sortWithinPartitions("shard", "user_id", "rank")),
            counts={
                "dt": date,
                "taste_mode": features.taste_mode,
                "dim": index.dim,
                "users": sum(int(r["users"]) for r in stats),
                "cold_users": sum(int(r["cold"] or 0) for r in stats),
                "clusters": n_clusters,
                "worklist_rows": sum(per_shard.values()),
                "rows_per_shard": per_shard,
                "rows_per_retriever": {r["retriever"]: int(r["count"])
                                       for r in sorted(by_retriever, key=lambda r: r[0])},
            })
    finally:
        for frame in reversed(cached):
            frame.unpersist()
        if broadcast is not None:
            broadcast.unpersist()
