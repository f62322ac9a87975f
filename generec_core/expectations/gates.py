"""The two data-quality gates of a nightly run, on the cleaned interactions and on the features.

Each gate is a list of (suite, Spark DataFrame) batches for the date; ``judge`` validates each
with GX (``runner``), renders each result page and folds the results into a verdict (see
``verdict.py``). The stages store the pages and the verdict (``datasets.expectations``) and
decide what a failure means (``raise_on_failure`` stops the run before anything is published).
"""

from __future__ import annotations

import math
from typing import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from generec_core.config import ExpectationsConfig
from generec_core.datasets.users import USER_FEATURE_COLUMNS
from generec_core.expectations import runner, suites

INTERACTIONS, FEATURES = "interactions", "features"
Batches = list[tuple[object, DataFrame]]


def judge(gate: str, date: str, run_id: str, batches: Batches, skipped: list[str],
          page_key: Callable[[str], str], context: list[str] | None = None) -> tuple[dict, dict[str, str]]:
    """(verdict, rendered page per suite): validate each batch against its suite; ``context``: facts that
    explain a failure, for its message."""
    digests, pages = [], {}
    for suite, frame in batches:
        result = runner.validate(suite, frame, run_name=run_id)
        digest = runner.summarise(suite.name, result)
        digest["html"] = page_key(suite.name)  # relative to the root: the same on a mirrored and the real root
        pages[suite.name] = runner.render_html(result)
        digests.append(digest)
    failed = [r for d in digests for r in d["results"] if not r["success"]]
    return {
        "gate": gate,
        "dt": date,
        "success": not any(r["severity"] == "critical" for r in failed),
        "critical_failures": [r["name"] for r in failed if r["severity"] == "critical"],
        "warnings": [r["name"] for r in failed if r["severity"] != "critical"],
        "skipped": skipped,
        "observed": {r["name"]: r["observed"] for r in failed},
        "context": context or [],
        "suites": digests,
    }, pages


def disabled(gate: str, date: str) -> dict:
    """The verdict when ``expectations.enabled`` is false: passed, and saying why nothing ran."""
    return {"gate": gate, "dt": date, "success": True, "critical_failures": [], "warnings": [],
            "skipped": ["all checks: expectations.enabled is false"], "suites": []}


def volume_band(lake: DataFrame | None, date: str, first: str,
                settings: ExpectationsConfig) -> tuple[tuple[int, int] | None, str]:
    """The allowed row-count range from the clean partitions dated [first, date), or None and why not."""
    counts = [] if lake is None else [
        r["count"] for r in lake.where((F.col("dt") >= first) & (F.col("dt") < date)).groupBy("dt").count().collect()]
    if len(counts) < settings.volume_min_history_days or not counts:
        return None, (f"volume band: {len(counts)} of the trailing {settings.volume_history_days} day(s) "
                      f"in the lake, {settings.volume_min_history_days} needed")
    mean = sum(counts) / len(counts)
    band = (math.floor(mean * (1 - settings.volume_band)), math.ceil(mean * (1 + settings.volume_band)))
    return band, f"volume band {band} from the mean {mean:.1f} of {len(counts)} day(s)"


def interactions_batches(written: DataFrame, statuses: DataFrame, date: str, interval: tuple,
                         band: tuple[int, int] | None, settings: ExpectationsConfig) -> Batches:
    """The date's lake partition (read back as written) and the status of every line read (the shares)."""
    lake_suite = suites.interactions_lake(date, interval, tuple(suites.LAKE_TYPES), band, settings)
    return [(lake_suite, written), (suites.interactions_arrivals(settings), statuses)]


def _taste_scalars(users: DataFrame) -> DataFrame:
    """GX has no array expectations: derive the taste's dimension, finiteness and norm as columns."""
    finite = F.forall("taste", lambda x: ~F.isnan(x) & (F.abs(x) < F.lit(float("inf"))))
    norm = F.sqrt(F.aggregate("taste", F.lit(0.0).cast("double"), lambda acc, x: acc + x.cast("double") * x))
    return users.select("*", F.size("taste").alias("taste_dim"), finite.alias("taste_finite"), norm.alias("taste_norm"))


def features_batches(users: DataFrame, worklist: DataFrame, dim: int, clusters: int, shards: int,
                     settings: ExpectationsConfig) -> Batches:
    """The date's user features (dimension, finiteness, unit norms) and the run's worklist."""
    users = _taste_scalars(users)
    has_taste = (F.col("taste_dim") == dim) & F.col("taste_finite")
    candidates = worklist.join(users.select("user_id", has_taste.alias("has_taste")), "user_id", "left")
    return [(suites.user_features(dim, clusters, USER_FEATURE_COLUMNS, settings), users),
            (suites.worklist(shards), candidates)]

