"""What must hold, declared as great-expectations suites: one suite per batch the gates validate.

Every expectation carries ``meta["guards"]``, the failure it exists to catch, and a
severity: ``critical`` stops the run before anything is published, ``warning`` is
reported only. The suites are built per date because their bounds are (the interval, the
volume band from the trailing days).

Batches (built in ``gates``):
* ``interactions_lake`` — the date's cleaned lake partition, read back as written.
* ``interactions_arrivals`` — every line read on the date, with its ``status`` (clean, duplicate,
  duplicate_replay, quarantined): the day-level shares, duplicates and quarantined lines.
* ``user_features`` — the date's user features plus derived ``taste_dim``,
  ``taste_finite``, ``taste_norm`` (GX has no array expectations, so Spark derives
  scalars and GX judges them).
* ``worklist`` — the run's candidates joined to their user's taste (``has_taste``).
"""

from __future__ import annotations

from datetime import datetime

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from generec_core.config import ExpectationsConfig
from generec_core.datasets.interactions import EVENT_TYPES

KEYS: tuple[str, ...] = ("event_id", "user_id", "item_id", "event_type", "ts")
# Spark type names as GX's Spark backend reports them
LAKE_TYPES: dict[str, str] = {"event_id": "StringType", "user_id": "StringType", "item_id": "StringType",
                              "event_type": "StringType", "ts": "TimestampType", "watch_ms": "LongType",
                              "thumbnail_uri": "StringType", "propensity": "DoubleType", "impression_id": "StringType",
                              "dt": "StringType"}
RETRIEVERS: tuple[str, ...] = ("taste_knn", "popular", "als", "taste_knn+als", "popular+als")


def _suite(name: str, expectations: list) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=expectations)


def interactions_lake(date: str, interval: tuple[datetime, datetime], columns: tuple[str, ...],
                      volume: tuple[int, int] | None, config: ExpectationsConfig) -> gx.ExpectationSuite:
    """Schema, keys, allowed values, ts inside the accepted interval, unique ids, volume band."""
    lo, hi = interval
    expectations = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=list(columns), meta={"guards": "the lake schema"}),
        *[gxe.ExpectColumnValuesToBeOfType(column=c, type_=t, meta={"guards": "column types"})
          for c, t in LAKE_TYPES.items()],
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, meta={"guards": "not-null keys"}) for c in KEYS],
        gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES),
                                        meta={"guards": "allowed event types"}),
        gxe.ExpectColumnValuesToBeBetween(column="ts", min_value=lo, max_value=hi, strict_max=True,
                                          meta={"guards": f"ts inside [{lo.isoformat()}, {hi.isoformat()})"}),
        gxe.ExpectColumnValuesToBeBetween(column="watch_ms", min_value=0, meta={"guards": "non-negative watch time"}),
        gxe.ExpectColumnValuesToBeBetween(column="propensity", min_value=0, max_value=1, strict_min=True,
                                          meta={"guards": "propensities in (0, 1]"}),
        gxe.ExpectColumnValuesToBeUnique(column="event_id", meta={"guards": "one row per event (dedup)"}),
        gxe.ExpectColumnValuesToBeInSet(column="dt", value_set=[date], meta={"guards": "rows in their partition"}),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"guards": "a day with events"}),
    ]
    if volume is not None:
        low, high = volume
        expectations.append(gxe.ExpectTableRowCountToBeBetween(
            min_value=low, max_value=high, severity=config.volume_severity,
            meta={"guards": f"volume within ±{config.volume_band:.0%} of the trailing mean"}))
    return _suite("interactions_lake", expectations)


def interactions_arrivals(config: ExpectationsConfig) -> gx.ExpectationSuite:
    """Day-level shares: of the accepted lines at least 1 - max_duplicate_rate are new events, and of all
    lines read at most max_quarantine_share were quarantined (one bad row costs its row, many stop the run)."""
    accepted = Column("status") != "quarantined"
    return _suite("interactions_arrivals", [
        gxe.ExpectColumnValuesToBeInSet(
            column="status", value_set=["clean"], mostly=1.0 - config.max_duplicate_rate, row_condition=accepted,
            meta={"guards": f"duplicate + replay rate <= {config.max_duplicate_rate:.0%}"}),
        gxe.ExpectColumnValuesToNotBeInSet(
            column="status", value_set=["quarantined"], mostly=1.0 - config.max_quarantine_share,
            meta={"guards": f"quarantined share of the lines read <= {config.max_quarantine_share:.0%}"}),
    ])


def user_features(dim: int, clusters: int, columns: tuple[str, ...], config: ExpectationsConfig) -> gx.ExpectationSuite:
    """Embedding dimension, finite values, unit norms, one row per user, a cluster for everyone."""
    tol = config.norm_tolerance
    return _suite("user_features", [
        *[gxe.ExpectColumnToExist(column=c, meta={"guards": "the user-features schema"}) for c in columns],
        gxe.ExpectColumnValuesToNotBeNull(column="user_id", meta={"guards": "not-null user ids"}),
        gxe.ExpectColumnValuesToBeUnique(column="user_id", meta={"guards": "one row per user"}),
        gxe.ExpectColumnValuesToBeBetween(column="taste_dim", min_value=dim, max_value=dim,
                                          meta={"guards": f"taste dimension = encoder dimension {dim}"}),
        gxe.ExpectColumnValuesToNotBeNull(column="taste_finite", meta={"guards": "every user has a taste"}),
        gxe.ExpectColumnValuesToBeInSet(column="taste_finite", value_set=[True],
                                        meta={"guards": "finite taste values (no NaN / inf)"}),
        gxe.ExpectColumnValuesToBeBetween(column="taste_norm", min_value=1 - tol, max_value=1 + tol,
                                          meta={"guards": f"unit-norm tastes (±{tol:g})"}),
        gxe.ExpectColumnValuesToBeBetween(column="cluster", min_value=0, max_value=max(clusters - 1, 0),
                                          meta={"guards": f"cluster ids in [0, {clusters})"}),
        gxe.ExpectColumnValuesToNotBeNull(column="cluster", meta={"guards": "a taste cluster for every user"}),
        gxe.ExpectColumnValuesToBeBetween(column="support", min_value=0, meta={"guards": "non-negative support"}),
    ])


def worklist(shards: int) -> gx.ExpectationSuite:
    """Every candidate user has a taste; pairs are unique, ranked, sharded and attributed."""
    return _suite("worklist", [
        gxe.ExpectColumnValuesToBeInSet(column="has_taste", value_set=[True],
                                        meta={"guards": "every candidate user has a taste"}),
        gxe.ExpectColumnValuesToNotBeNull(column="has_taste", meta={"guards": "every candidate user has a taste"}),
        gxe.ExpectColumnValuesToNotBeNull(column="item_id", meta={"guards": "not-null candidates"}),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "item_id"], meta={"guards": "one row per pair"}),
        gxe.ExpectColumnValuesToBeInSet(column="retriever", value_set=list(RETRIEVERS),
                                        meta={"guards": "every pair says which retriever proposed it"}),
        gxe.ExpectColumnValuesToBeBetween(column="rank", min_value=1, meta={"guards": "ranks start at 1"}),
        gxe.ExpectColumnValuesToBeBetween(column="shard", min_value=0, max_value=shards - 1,
                                          meta={"guards": f"shards in [0, {shards})"}),
    ])
