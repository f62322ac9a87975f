"""Generated days of logs (hypothesis): whatever arrives, no line is lost and one bad line costs only itself.

Each example is a day of lines mixing valid events, near-valid ones with exactly one thing broken,
arbitrary JSON and arbitrary bytes. For every example, through the real ingest stage on Spark:

* every non-blank line is accounted for once: read = clean + quarantined + duplicates + replays, and
  the lake and quarantine partitions hold exactly the clean and quarantined rows (rows lost: 0);
* every quarantined line keeps its text and carries one known reason code;
* the same input gives the same partitions;
* the gate passes whenever the bad share is under the ceiling (and duplicates under theirs), and
  stops the run, naming the share, when it is over.

The first property runs the cleaning itself on Spark DataFrames (fast, so more examples); the second
runs the whole stage with its gate on files. CI runs the ``ci`` profile (few examples, fixed seed);
``HYPOTHESIS_PROFILE=long`` runs 100-200.
"""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from generec_core import pipeline
from generec_core.config import ExpectationsConfig, PipelineConfig
from generec_core.datasets.layout import Layout
from generec_core.expectations import DataQualityError
from generec_core.spark.ingest import clean_day
from generec_core.stages.ingest import clean_interactions
from generec_core.storage import file_uri, read_parquet, storage_for

pytestmark = [pytest.mark.spark, pytest.mark.slow]

DAY = "2026-11-20"
REASON = re.compile(r"^(oversized_line|non_utf8|bad_json|unknown_event_type|ts_outside_interval|"
                    r"(duplicate_key|missing_field|bad_type|bad_id|implausible):[a-z_]+)$")
SETTINGS = ExpectationsConfig(max_quarantine_share=0.25, max_duplicate_rate=1.0)
EVENT_TYPES = ("impression", "click", "like", "share", "skip", "watch")

ids = st.text(string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=12)
times = st.integers(0, 47 * 3600 + 3599).map(lambda s: f"2026-11-{19 + s // 86400:02d}T{s % 86400 // 3600:02d}:"
                                                         f"{s % 3600 // 60:02d}:{s % 60:02d}Z")


@st.composite
def events(draw) -> dict:
    event = {"event_id": draw(ids), "user_id": "u" + draw(ids), "item_id": "i" + draw(ids),
             "event_type": draw(st.sampled_from(EVENT_TYPES)), "ts": draw(times)}
    if draw(st.booleans()):
        event["watch_ms"] = draw(st.integers(0, 86_400_000))
    return event


BREAKS = [
    lambda e, d: {k: v for k, v in e.items() if k != d(st.sampled_from(["event_id", "user_id", "item_id",
                                                                         "event_type", "ts"]))},
    lambda e, d: {**e, d(st.sampled_from(["user_id", "item_id", "ts"])): d(st.one_of(
        st.integers(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=2), st.none(),
        st.just(""), st.just("   "), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))},
    lambda e, d: {**e, "user_id": d(st.sampled_from(["u\x01", " u", "u ", "u" * 300]))},
    lambda e, d: {**e, "watch_ms": d(st.one_of(st.integers(max_value=-1), st.integers(min_value=86_400_001),
                                              st.text(max_size=3)))},
    lambda e, d: {**e, "event_type": d(st.text(max_size=6).filter(lambda t: t not in EVENT_TYPES))},
    lambda e, d: {**e, "ts": d(st.sampled_from(["2026-11-18T23:59:59Z", "2026-11-21T00:00:00Z", "yesterday"]))},
]


@st.composite
def near_valid_lines(draw) -> bytes:
    """A valid event with exactly one thing broken (or a contract key repeated with another value)."""
    event = draw(events())
    if draw(st.integers(0, len(BREAKS))) == len(BREAKS):
        text = json.dumps(event)
        return (text[:-1] + f', "user_id": "{event["user_id"]}x"}}').encode()
    return json.dumps(draw(st.sampled_from(BREAKS))(event, draw)).encode()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)
lines = st.one_of(
    events().map(lambda e: json.dumps(e).encode()),
    events().map(lambda e: json.dumps(e).encode()),  # valid events are the common case
    near_valid_lines(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=120),
).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))


def _write(root: str, day_lines: list[bytes]) -> None:
    uri = Layout(root).raw_interactions_file(DAY, 0)
    storage_for(uri).write_bytes(uri, b"\n".join(day_lines) + b"\n")


def _partitions(root: str) -> tuple[list[tuple], list[tuple]]:
    layout = Layout(root)
    lake = sorted(tuple(r.values()) for r in read_parquet(layout.lake_interactions(DAY)).to_pylist())
    try:
        quarantine = sorted((r["line"], r["reason"]) for r in
                            read_parquet(layout.quarantine("interactions", DAY)).to_pylist())
    except FileNotFoundError:
        quarantine = []
    return lake, quarantine


def _read(day: list[bytes]) -> int:
    return sum(1 for line in day if line.strip(b" "))  # Spark skips lines of spaces only


@settings(max_examples=settings().max_examples * 2)
@given(day=st.lists(lines, min_size=1, max_size=60))
def test_cleaning_accounts_for_every_line_once_and_deterministically(spark, day):
    frame = (spark.createDataFrame([(line,) for line in day], "value binary")
             .select(F.col("value").cast("string").alias("value")).where(F.trim("value") != ""))

    def clean() -> tuple[dict, list, list]:
        with clean_day(frame, None, DAY, PipelineConfig().ingest) as cleaned:
            return (cleaned.counts, sorted(tuple(r) for r in cleaned.clean.collect()),
                    sorted(tuple(r) for r in cleaned.quarantined.collect()))

    counts, lake, quarantine = clean()
    assert counts["read"] == _read(day) == counts["clean"] + counts["quarantined"] + counts["duplicates"] \
        + counts["duplicate_replays"]
    assert (len(lake), len(quarantine)) == (counts["clean"], counts["quarantined"])  # rows lost: 0
    assert all(REASON.match(row[2]) for row in quarantine), {row[2] for row in quarantine}
    assert clean() == (counts, lake, quarantine)


@given(day=st.lists(lines, min_size=1, max_size=40))
def test_the_stage_loses_no_line_and_its_gate_judges_only_the_share(spark, tmp_path_factory, day):
    root = file_uri(tmp_path_factory.mktemp("fuzzed-day"))
    _write(root, day)
    config = PipelineConfig(root=root, expectations=SETTINGS)
    read = _read(day)
    if not read:
        return

    try:
        counts = pipeline.run_stage("ingest", config, DAY)
        stopped = None
    except DataQualityError as exc:
        counts, stopped = exc.summary, exc

    assert counts["read"] == read == counts["clean"] + counts["quarantined"] + counts["duplicates"] \
        + counts["duplicate_replays"]
    lake, quarantine = _partitions(root)
    assert len(lake) == counts["clean"] and len(quarantine) == counts["quarantined"]  # rows lost: 0
    assert all(REASON.match(reason) for _, reason in quarantine), {r for _, r in quarantine}
    texts = {line.decode("utf-8", "replace") for line in day}
    assert all(line in texts for line, _ in quarantine)  # kept verbatim
    share = counts["quarantined"] / read
    if share <= SETTINGS.max_quarantine_share:
        assert stopped is None and counts["audit"]["success"], counts["audit"]
    else:
        assert stopped is not None and "quarantined share" in str(stopped) and f"dt={DAY}" in str(stopped)

    again = clean_interactions(spark, config, DAY)
    assert again == {k: v for k, v in counts.items() if k not in ("audit", "seconds")}
    assert _partitions(root) == (lake, quarantine)  # the same input gives the same partitions
