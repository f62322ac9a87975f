"""Interaction log cleaning: raw JSONL of one day -> typed, deduplicated lake partition.

Input contract (``raw/interactions/dt=YYYY-MM-DD/*.jsonl``, one JSON object per line):
``event_id`` (string, unique), ``user_id`` (string), ``item_id`` (string), ``event_type``
(one of ``datasets.interactions.EVENT_TYPES``), ``ts`` (ISO-8601 date-time, UTC; a zone-less value is read
as UTC, an explicit offset is converted), optional ``watch_ms`` (JSON integer). Contract v2 adds,
all optional: ``thumbnail_uri`` (string, the catalog asset an impression showed) and ``propensity``
(number in (0, 1], the probability it was shown with), and ``impression_id`` (string, the
``event_id`` of the impression a click, like or watch follows). v1 logs stay valid. Unknown
extra fields are ignored so upstream can add fields without breaking us.

Why the text-first read: every rejected line is kept *verbatim* in the quarantine, so a
data engineer can replay it after upstream fixes the producer. Lines are read with
``spark.read.text`` and parsed with ``from_json`` and an explicit schema whose fields are
VARIANT: a typed schema (``user_id STRING``) silently turns ``123`` or ``{"a":1}`` into
strings and nulls both a missing and a mistyped field, so it could not say *which* field
was bad. With VARIANT we see each field's JSON type and check it against the contract.

Each bad line gets exactly one reason, the first that applies, in this order:
``oversized_line`` (more than ``config.ingest.max_line_bytes`` bytes: never handed to the
parser, so one runaway producer cannot blow up a task's memory on parse), ``non_utf8``
(bytes that are not valid UTF-8: the text would be silently altered by any decoder),
``bad_json`` (unparsable, not an object, trailing garbage, a key repeated inside a field's
value), ``duplicate_key:<name>`` (a contract key repeated in the event with values that
disagree: which one is meant cannot be known), ``missing_field:<name>`` (absent, JSON null or
an empty or whitespace-only string, required fields in contract order), ``bad_type:<name>``
(wrong JSON type, e.g. a number where a string is required; for ``ts`` also not an ISO-8601
date-time), ``bad_id:<name>`` (an event, user or item id longer than
``config.ingest.max_id_chars``, with control characters, or with surrounding whitespace),
``implausible:watch_ms`` (negative, or longer than ``config.ingest.max_watch_ms``, a day),
``bad_type:<thumbnail_uri|impression_id|propensity>`` (contract v2 fields: a string, a string, a
number), ``bad_id:impression_id``, ``implausible:propensity`` (outside (0, 1]),
``unknown_event_type``, ``ts_outside_interval``, then the two that need other data
(``check_references``): ``unknown_asset:thumbnail_uri`` (the shown thumbnail is not a published
catalog asset) and ``unknown_impression`` (the impression a click, like or watch follows is in
neither the day's logs nor the lake's last ``config.ingest.impression_lookback_days`` days). Whitespace-only lines are not records: they
are skipped and not counted. Every one of these can be wrong in a single line, so it costs
that line only; the day-level checks (volume, duplicate share, quarantined share) are the
great-expectations gate's.

Quarantine rows: ``line`` (the raw line as text; for ``non_utf8`` the invalid sequences
are replaced by U+FFFD so every reader can open the file), ``line_bytes`` (the exact raw
bytes, set only where the line is not valid UTF-8, so such a line can still be replayed byte for byte),
``reason``, ``dt``. Oversized lines are kept whole: nothing is lost, only unparsed.

Lateness policy: the data interval of ``date`` is [date 00:00Z, date+1 00:00Z). Clients
buffer events offline and flush on reconnect, so a day's logs carry events up to ONE DAY
EARLY (late arrivals from the previous day). Those are ACCEPTED and stored in this
date's partition with their own ``ts``: ``dt`` says when we learned of an event (what
point-in-time features filter on), ``ts`` says when it happened. Anything earlier than
date-1 00:00Z, or at/after the interval's end (clock skew, future), is quarantined as
``ts_outside_interval``. Consequence: the features of date D-1, already built, never change
after the fact (no silent rewrite of a published night); a late event counts from date D
on, weighted by its true ``ts`` in the recency decay. ``late_accepted`` counts them.

Dedup: within the date, one row per ``event_id`` survives (earliest ``ts``, then the other
lake fields, so the choice is deterministic; the raw lines of good rows are not carried
through the shuffle); the others count as ``duplicate``. An event whose
id is already in the lake partition of ANY OTHER date (an upstream replay, or a late
arrival that both days carried) is dropped as ``duplicate_replay``, so every event_id lives
in at most one partition whatever order dates are (re)run in. Duplicates are counted, not
quarantined: they are not bad data. Only the ``event_id`` column of the lake is read for
this check (Parquet column pruning).

Re-running a date overwrites that date's lake and quarantine partitions only. Output rows
are hash-partitioned and sorted by key, so a re-run writes the same rows in the same order
(file names carry Spark's random job id); adaptive execution sizes the file count.

Known leniency: the JSON parser stops after the first complete object, so two objects
glued on one line (``{..}{..}``) keep the first; a line that does not end in ``}`` is
``bad_json``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, time, timedelta, timezone
from typing import Iterator

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from generec_core.config import IngestConfig
from generec_core.datasets.interactions import EVENT_TYPES, LAKE_COLUMNS, QUARANTINE_COLUMNS
from generec_core.identifiers import CONTROL_CHARS

REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "user_id", "item_id", "event_type", "ts")
ID_FIELDS: tuple[str, ...] = ("event_id", "user_id", "item_id")
OPTIONAL_INT_FIELDS: tuple[str, ...] = ("watch_ms",)
# contract v2: an impression may say which thumbnail was shown and with which probability; a click, like or
# watch may name the impression it follows
OPTIONAL_STRING_FIELDS: tuple[str, ...] = ("thumbnail_uri", "impression_id")
OPTIONAL_NUMBER_FIELDS: tuple[str, ...] = ("propensity",)
OPTIONAL_FIELDS = OPTIONAL_INT_FIELDS + OPTIONAL_STRING_FIELDS + OPTIONAL_NUMBER_FIELDS
_CONTRACT_KEY = '"(?:' + "|".join(REQUIRED_FIELDS + OPTIONAL_FIELDS) + r')"\s*:'  # any contract key, named
CORRUPT_COLUMN = "_corrupt_record"
LATENESS = timedelta(days=1)

# The parse schema: every contract field as VARIANT (its JSON type stays visible) plus the
# corrupt-record column that from_json fills for unparsable / non-object lines.
PARSE_SCHEMA = T.StructType(
    [T.StructField(name, T.VariantType()) for name in REQUIRED_FIELDS + OPTIONAL_FIELDS]
    + [T.StructField(CORRUPT_COLUMN, T.StringType())]
)
# Strict JSON: Spark's defaults accept single quotes and NaN, which the contract does not.
_JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT_COLUMN,
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
    "allowUnquotedControlChars": "false",
}
_INT_VARIANT_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
_NUMBER_VARIANT_TYPES = _INT_VARIANT_TYPES + ("DOUBLE", "FLOAT")  # a JSON number; decimals are DECIMAL(p,s)
# a top-level "key": value pair in the raw line (a string, or the first token of any other value)
_KEY_VALUE = r'"{key}"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}}\]\s]+)'
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$"

OVERSIZED, NON_UTF8 = "oversized_line", "non_utf8"

_CLEAN, _QUARANTINED, _DUPLICATE, _REPLAY = "clean", "quarantined", "duplicate", "duplicate_replay"


def parse_date(date: str) -> Date:
    """The logical date as a ``date``; a clear error names the bad value."""
    try:
        return Date.fromisoformat(date)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"logical date must be YYYY-MM-DD, got {date!r}") from exc


def accepted_interval(date: str) -> tuple[datetime, datetime]:
    """[date-1 00:00Z, date+1 00:00Z): the day's interval widened by the lateness allowance."""
    start = datetime.combine(parse_date(date), time(0), tzinfo=timezone.utc)
    return start - LATENESS, start + timedelta(days=1)


def _present(field: Column) -> Column:
    return field.isNotNull() & ~F.is_variant_null(field)


def _json_type(field: Column) -> Column:
    return F.schema_of_variant(field)


def classify_lines(lines: DataFrame, date: str, limits: IngestConfig = IngestConfig(),
                   event_types: tuple[str, ...] = EVENT_TYPES) -> DataFrame:
    """Parse raw lines (column ``value``) and attach a ``reason`` (null for good rows).

    Returns columns: line, line_bytes, reason, and the typed contract fields (null where
    unusable). Pure DataFrame -> DataFrame so it can be tested without any files.
    """
    lo, hi = accepted_interval(date)
    oversized = F.octet_length(F.col("value")) > F.lit(limits.max_line_bytes)
    non_utf8 = ~F.is_valid_utf8(F.col("value"))
    parsable = F.when(~oversized & ~non_utf8, F.col("value"))  # the parser never sees the others
    # Staged projections: each costly expression (the parse, a field's JSON type, the ts parse)
    # is computed once per line and then referenced; inlined into every rule it would be
    # re-evaluated per rule (measured: ~7x slower ingest).
    parsed = lines.select(
        F.make_valid_utf8(F.col("value")).alias("line"),
        F.when(non_utf8, F.col("value").cast("binary")).alias("line_bytes"),
        oversized.alias("_oversized"), non_utf8.alias("_non_utf8"),
        F.from_json(parsable, PARSE_SCHEMA, _JSON_OPTIONS).alias("j"),
        F.regexp_count(F.col("value"), F.lit(_CONTRACT_KEY)).alias("_key_hits"))

    def field(name: str) -> Column:
        return F.col("j").getField(name)

    fields = REQUIRED_FIELDS + OPTIONAL_FIELDS
    typed = parsed.select(
        "*", *[_present(field(n)).alias(f"_has_{n}") for n in fields],
        *[_json_type(field(n)).alias(f"_type_{n}") for n in fields])
    strings = typed.select(
        "*", *[F.when(F.col(f"_type_{n}") == "STRING", F.try_variant_get(field(n), "$", "string")).alias(f"_s_{n}")
               for n in REQUIRED_FIELDS],
        *[F.when(F.col(f"_type_{n}") == "STRING", F.try_variant_get(field(n), "$", "string")).alias(n)
          for n in OPTIONAL_STRING_FIELDS],
        *[F.when(F.col(f"_type_{n}").isin(*_NUMBER_VARIANT_TYPES) | F.col(f"_type_{n}").startswith("DECIMAL"),
                 F.try_variant_get(field(n), "$", "double")).alias(n) for n in OPTIONAL_NUMBER_FIELDS],
        F.when(F.col("_has_watch_ms") & F.col("_type_watch_ms").isin(*_INT_VARIANT_TYPES),
               F.try_variant_get(field("watch_ms"), "$", "bigint")).alias("watch_ms"))
    # A contract key named more often than the object has contract fields: maybe a repeated key. Only then
    # (And short-circuits) ask Spark's variant parser, which refuses a key repeated in one object.
    present = sum((F.col(f"_has_{n}").cast("int") for n in fields), F.lit(0))
    repeats = (F.col("_key_hits") > present) & F.try_parse_json(F.col("line")).isNull()
    staged = strings.select(
        "*", F.when(F.col("_s_ts").rlike(_ISO_DATETIME), F.try_to_timestamp(F.col("_s_ts"))).alias("ts"),
        *[F.when(repeats, F.size(F.array_distinct(F.regexp_extract_all(
            F.col("line"), F.lit(_KEY_VALUE.format(key=n)), F.lit(1))))).alias(f"_values_{n}") for n in fields])

    ts_value = F.col("ts")
    trimmed = F.trim(F.col("line"))
    rules: list[tuple[Column, str]] = [(F.col("_oversized"), OVERSIZED), (F.col("_non_utf8"), NON_UTF8), (
        F.col("j").isNull() | field(CORRUPT_COLUMN).isNotNull()
        | ~trimmed.startswith("{") | ~trimmed.endswith("}"),
        "bad_json",
    )]
    for name in fields:
        rules.append((F.col(f"_values_{name}") > 1, f"duplicate_key:{name}"))  # the repeated key disagrees
    for name in REQUIRED_FIELDS:
        empty_string = (F.col(f"_type_{name}") == "STRING") & (F.trim(F.col(f"_s_{name}")) == "")
        rules.append((~F.col(f"_has_{name}") | empty_string, f"missing_field:{name}"))
    for name in REQUIRED_FIELDS:
        rules.append((F.col(f"_s_{name}").isNull(), f"bad_type:{name}"))
        if name == "ts":
            rules.append((ts_value.isNull(), "bad_type:ts"))
    for name in ID_FIELDS:
        value = F.col(f"_s_{name}")
        unfit = ((F.char_length(value) > F.lit(limits.max_id_chars)) | value.rlike(CONTROL_CHARS)
                 | (F.trim(value) != value))
        rules.append((unfit, f"bad_id:{name}"))
    watch = F.col("watch_ms")
    rules.append((F.col("_has_watch_ms") & watch.isNull(), "bad_type:watch_ms"))
    rules.append(((watch < 0) | (watch > F.lit(limits.max_watch_ms)), "implausible:watch_ms"))
    for name in OPTIONAL_STRING_FIELDS + OPTIONAL_NUMBER_FIELDS:
        empty = (F.col(f"_type_{name}") == "STRING") & (F.trim(F.col(name)) == "")
        rules.append((F.col(f"_has_{name}") & (F.col(name).isNull() | empty), f"bad_type:{name}"))
    impression = F.col("impression_id")
    rules.append(((F.char_length(impression) > F.lit(limits.max_id_chars)) | impression.rlike(CONTROL_CHARS)
                  | (F.trim(impression) != impression), "bad_id:impression_id"))
    rules.append(((F.col("propensity") <= 0) | (F.col("propensity") > 1), "implausible:propensity"))
    rules.append((~F.col("_s_event_type").isin(*event_types), "unknown_event_type"))
    rules.append(((ts_value < F.lit(lo)) | (ts_value >= F.lit(hi)), "ts_outside_interval"))

    reason = F.when(rules[0][0], F.lit(rules[0][1]))
    for condition, label in rules[1:]:
        reason = reason.when(condition, F.lit(label))

    return staged.select(
        "line",
        "line_bytes",
        reason.alias("reason"),
        *[F.col(f"_s_{n}").alias(n) for n in ("event_id", "user_id", "item_id", "event_type")],
        "ts",
        "watch_ms",
        *OPTIONAL_STRING_FIELDS,
        *OPTIONAL_NUMBER_FIELDS,
    )


def check_references(classified: DataFrame, assets: DataFrame | None, prior_impressions: DataFrame | None
                     ) -> DataFrame:
    """The row rules that need other data (contract v2), on rows no earlier rule rejected.

    ``unknown_asset:thumbnail_uri``: an impression's shown thumbnail is not a published catalog asset
    (compared by content address, the URI's last segment, so a catalog copied to another root still
    matches; ``assets``: column ``asset``, None when nothing is published). ``unknown_impression``: a
    click, like or watch names an impression that is neither in the day's logs nor in the lake's
    ``prior_impressions`` (column ``event_id``, the lookback window's impressions).
    """
    name = F.regexp_extract(F.col("thumbnail_uri"), r"([^/]+)$", 1)
    out = classified.withColumn("_asset", name)
    if assets is None:
        out = out.withColumn("_asset_known", F.lit(None).cast("boolean"))
    else:
        known = assets.select(F.col("asset").alias("_asset")).distinct().withColumn("_asset_known", F.lit(True))
        out = out.join(F.broadcast(known), "_asset", "left")
    today = classified.where(F.col("reason").isNull() & (F.col("event_type") == "impression")).select("event_id")
    seen = today if prior_impressions is None else today.unionByName(prior_impressions.select("event_id"))
    seen = seen.select(F.col("event_id").alias("_impression")).distinct().withColumn("_impression_known", F.lit(True))
    out = out.join(seen, out["impression_id"] == seen["_impression"], "left")
    reason = (F.when(F.col("reason").isNotNull(), F.col("reason"))
              .when(F.col("thumbnail_uri").isNotNull() & F.col("_asset_known").isNull(),
                    F.lit("unknown_asset:thumbnail_uri"))
              .when(F.col("impression_id").isNotNull() & F.col("_impression_known").isNull(),
                    F.lit("unknown_impression")))
    return out.withColumn("reason", reason).drop("_asset", "_asset_known", "_impression", "_impression_known")


def _tag_good_rows(good: DataFrame, prior_ids: DataFrame | None) -> DataFrame:
    """Status per good row: first copy of an event_id in the date is kept, others are duplicates."""
    order = Window.partitionBy("event_id").orderBy("ts", "user_id", "item_id", "event_type", "watch_ms")
    ranked = good.withColumn("_copy", F.row_number().over(order))
    if prior_ids is None:
        ranked = ranked.withColumn("_seen_before", F.lit(False))
    else:
        flagged = prior_ids.select("event_id", F.lit(True).alias("_seen_before"))
        ranked = ranked.join(flagged, "event_id", "left").fillna(False, ["_seen_before"])
    status = (F.when(F.col("_copy") > 1, F.lit(_DUPLICATE))
              .when(F.col("_seen_before"), F.lit(_REPLAY))
              .otherwise(F.lit(_CLEAN)))
    return ranked.withColumn("status", status).drop("_copy", "_seen_before")


def _counts(rows: list, date: str) -> dict:
    by_status: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    late = 0
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        if row["status"] == _QUARANTINED:
            by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + row["n"]
        if row["status"] == _CLEAN:
            late += row["late"]
    return {
        "dt": date,
        "read": sum(by_status.values()),
        "clean": by_status.get(_CLEAN, 0),
        "quarantined": by_status.get(_QUARANTINED, 0),
        "quarantine_by_reason": dict(sorted(by_reason.items())),
        "duplicates": by_status.get(_DUPLICATE, 0),
        "duplicate_replays": by_status.get(_REPLAY, 0),
        "late_accepted": late,
    }


@dataclass(frozen=True)
class CleanDay:
    """One day of logs, cleaned: what the lake and the quarantine get, and what the gate audits."""

    clean: DataFrame  # LAKE_COLUMNS, hash-partitioned and sorted by event_id (re-runs write the same rows)
    quarantined: DataFrame  # QUARANTINE_COLUMNS, one reason per line
    statuses: DataFrame  # every line read: status (clean | duplicate | duplicate_replay | quarantined), reason
    counts: dict  # read == clean + quarantined + duplicates + duplicate_replays


@contextmanager
def clean_day(lines: DataFrame, lake: DataFrame | None, date: str, limits: IngestConfig,
              assets: DataFrame | None = None) -> Iterator[CleanDay]:
    """Classify and deduplicate one day of raw lines against the lake's other dates (and check the
    contract v2 references against the published ``assets`` and the lake's recent impressions).

    The day's tagged rows stay cached while the caller writes and audits them (so the gate sees
    what arrived without parsing the raw logs a second time), and are released on exit.
    """
    parse_date(date)
    day_start = accepted_interval(date)[0] + LATENESS
    first = (parse_date(date) - timedelta(days=limits.impression_lookback_days)).isoformat()
    prior_impressions = None if lake is None else lake.where(
        (F.col("dt") != date) & (F.col("dt") >= first) & (F.col("event_type") == "impression"))
    classified = check_references(classify_lines(lines, date, limits), assets, prior_impressions)
    prior_ids = None if lake is None else lake.where(F.col("dt") != date).select("event_id").distinct()
    good = _tag_good_rows(classified.where(F.col("reason").isNull()).drop("line", "line_bytes"), prior_ids)
    bad = classified.where(F.col("reason").isNotNull()).withColumn("status", F.lit(_QUARANTINED))
    tagged = good.unionByName(bad, allowMissingColumns=True).withColumn("dt", F.lit(date)).persist()
    try:
        rows = (tagged.groupBy("status", "reason")
                .agg(F.count(F.lit(1)).alias("n"),
                     F.sum((F.col("ts") < F.lit(day_start)).cast("long")).alias("late"))
                .collect())
        yield CleanDay(
            clean=(tagged.where(F.col("status") == _CLEAN).select(*LAKE_COLUMNS)
                   .repartition("event_id").sortWithinPartitions("event_id")),
            quarantined=(tagged.where(F.col("status") == _QUARANTINED).select(*QUARANTINE_COLUMNS)
                         .repartition("line").sortWithinPartitions("line", "reason")),
            statuses=tagged.select("status", "reason"),
            counts=_counts(rows, date))
    finally:
        tagged.unpersist()
