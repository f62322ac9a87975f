"""Datasets ``users``, ``taste_weights`` and ``worklist``: per-user features of a date, and the run's candidates.

- ``features/users/dt=<date>/`` (Spark folder, ``USER_FEATURE_COLUMNS``): taste vector, likes,
  cold-start flag, support and taste cluster per user (``spark/features.py`` documents them);
- ``features/taste_weights/dt=<date>/`` (Spark folder, ``TASTE_WEIGHT_COLUMNS``): what each
  (user, item) weighs in the user's taste (> 0 only), so generation weighs liked covers alike;
- ``work/run=<id>/worklist/`` (Spark folder, ``WORKLIST_COLUMNS``): (user, item) candidates with
  their rank, retriever, score and shard. The editor's shard tasks read their shard of it.

Both are written by the features stage (Spark) and read by Spark (its data-quality gate) and by
the Python stages with pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generec_core.datasets.layout import Layout
from generec_core.datasets.spark_io import read_folder, replace_folder
from generec_core.storage import ObjectNotFound

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

USER_FEATURE_COLUMNS: tuple[str, ...] = ("user_id", "taste", "n_likes", "is_cold", "support", "cluster")
TASTE_WEIGHT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "weight")
WORKLIST_COLUMNS: tuple[str, ...] = (
    "user_id", "item_id", "shard", "retriever", "candidate_score", "rank", "is_cold", "als_score", "cluster")


# --- Spark side -------------------------------------------------------------------------------

def write_user_features(users: "DataFrame", layout: Layout, date: str) -> None:
    replace_folder(users, layout.user_features(date), USER_FEATURE_COLUMNS, "user features")


def write_taste_weights(weights: "DataFrame", layout: Layout, date: str) -> None:
    replace_folder(weights, layout.taste_weights(date), TASTE_WEIGHT_COLUMNS, "taste weights")


def write_worklist(worklist: "DataFrame", layout: Layout, run_id: str) -> None:
    replace_folder(worklist, layout.worklist(run_id), WORKLIST_COLUMNS, "worklist")


def spark_user_features(spark: "SparkSession", layout: Layout, date: str) -> "DataFrame":
    return read_folder(spark, layout.user_features(date))


def spark_worklist(spark: "SparkSession", layout: Layout, run_id: str) -> "DataFrame":
    return read_folder(spark, layout.worklist(run_id))


# --- pyarrow side -----------------------------------------------------------------------------

def read_user_features(layout: Layout, date: str, columns: list[str] | None = None) -> pa.Table:
    """The date's user features (every column, or ``columns``); ``ObjectNotFound`` before the stage ran."""
    table = layout.store.read_parquet(layout.user_features(date))
    return table.select(columns) if columns else table


def tastes(layout: Layout, date: str, users: set[str], warm_only: bool = False) -> dict[str, np.ndarray]:
    """user -> taste (float32) for ``users``; with ``warm_only`` cold-start users' fallback taste is left out."""
    columns = ["user_id", "taste"] + (["is_cold"] if warm_only else [])
    table = read_user_features(layout, date, columns)
    if warm_only:
        table = table.filter(pc.invert(table["is_cold"]))
    table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    return {u: np.asarray(t, dtype=np.float32)
            for u, t in zip(table["user_id"].to_pylist(), table["taste"].to_pylist())}


def taste_weights(layout: Layout, date: str, users: set[str]) -> dict[str, dict[str, float]]:
    """user -> {item: weight in the taste} for ``users`` (a user without positive pairs maps to {})."""
    out: dict[str, dict[str, float]] = {u: {} for u in users}
    if not users:
        return out
    table = layout.store.read_parquet(layout.taste_weights(date))
    table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    for user, item, weight in zip(*(table[c].to_pylist() for c in TASTE_WEIGHT_COLUMNS)):
        out[user][item] = float(weight)
    return out


def read_worklist(layout: Layout, run_id: str, columns: list[str] | None = None) -> pa.Table:
    table = layout.store.read_parquet(layout.worklist(run_id))
    return table.select(columns) if columns else table


def shard_worklist(layout: Layout, run_id: str, shard: int, users: tuple[str, ...] = ()) -> pa.Table:
    """The shard's pairs, sorted; a run triggered for a user subset keeps only those users."""
    table = read_worklist(layout, run_id)
    table = table.filter(pc.equal(table["shard"], shard))
    if users:
        table = table.filter(pc.is_in(table["user_id"], pa.array(sorted(users), pa.string())))
    return table.sort_by([("user_id", "ascending"), ("item_id", "ascending")])


def worklist_shards(layout: Layout, run_id: str) -> list[int]:
    """The shards of the worklist that hold work (the fan-out of the editor's shard tasks)."""
    return sorted(set(read_worklist(layout, run_id, ["shard"]).column("shard").to_pylist()))


def worklist_ranks(layout: Layout, run_id: str) -> dict[tuple[str, str], int]:
    """(user, item) -> rank of the item in the user's candidate list; empty when there is no worklist."""
    try:
        table = read_worklist(layout, run_id, ["user_id", "item_id", "rank"])
    except ObjectNotFound:
        return {}
    return {(u, i): int(k) for u, i, k in zip(*(table[c].to_pylist() for c in ("user_id", "item_id", "rank")))}
