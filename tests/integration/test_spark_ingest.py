"""Interaction ingest on real Spark: exact quarantine counts, lateness, dedup, replays, idempotency."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generec_core.config import IngestConfig, PipelineConfig
from generec_core.datasets.layout import Layout
from generec_core.spark.ingest import classify_lines
from generec_core.spark.session import spark_path
from generec_core.stages.ingest import clean_interactions
from generec_core.storage import read_parquet

DAY, PREV = "2026-11-20", "2026-11-19"
MAX_LINE_BYTES = 300


def ev(event_id, user="u1", item="i1", etype="click", ts=f"{DAY}T10:00:00Z", **extra) -> str:
    return json.dumps({"event_id": event_id, "user_id": user, "item_id": item,
                       "event_type": etype, "ts": ts, **extra})


# Good lines of DAY: 6 distinct events, one of them a late arrival from PREV.
GOOD = [
    ev("g1", etype="like", ts=f"{DAY}T08:00:00Z"),
    ev("g2", etype="watch", watch_ms=12000),
    ev("g3", user="u2", item="i2", etype="impression", ts=f"{DAY}T23:59:59.999Z"),
    ev("g4", user="u2", item="i3", etype="skip", ts=f"{DAY}T00:00:00+00:00"),
    ev("g5", user="u3", etype="share", ts=f"{PREV}T00:00:00Z", extra_field=[1, 2]),  # late: 1 day early
    ev("g6", user="u3", item="i2", etype="like", ts=f"{DAY}T12:00:00", watch_ms=None),  # zone-less = UTC
]
DUPLICATES = [  # 2 more copies of g1; the conflicting one has a later ts and must not win
    ev("g1", etype="like", ts=f"{DAY}T08:00:00Z"),
    ev("g1", etype="like", ts=f"{DAY}T09:00:00Z"),
]
BAD = {
    "bad_json": ['{"event_id": "x1", "user_id": "u1"', "not json at all", "[1, 2, 3]", "42",
                 ev("x2") + " trailing", "{'event_id': 'x3'}"],
    "missing_field:event_id": [ev("m1").replace('"event_id": "m1", ', "")],
    "missing_field:user_id": [ev("m2", user=None)],
    "missing_field:item_id": [ev("m3", item=""), ev("m4", item="i1", user=5).replace('"item_id": "i1", ', "")],
    "bad_type:user_id": [ev("t1", user=123), ev("t2", user={"id": "u1"})],
    "bad_type:ts": [ev("t3", ts=1763600000), ev("t4", ts="yesterday"), ev("t5", ts=f"{DAY}")],
    "bad_type:watch_ms": [ev("t6", watch_ms="abc"), ev("t7", watch_ms=1.5)],
    "unknown_event_type": [ev("k1", etype="poke"), ev("k2", etype="Like"),
                           ev("k3", etype="poke", ts="2030-01-01T00:00:00Z")],  # first reason wins
    "ts_outside_interval": [ev("o1", ts="2026-11-21T00:00:00Z"), ev("o2", ts="2026-11-18T23:59:59Z"),
                            ev("o3", ts="2026-11-20T23:30:00-01:00")],
    # a valid event, but longer than the limit: never parsed (first reason wins over everything)
    "oversized_line": [ev("z1", note="x" * MAX_LINE_BYTES), ev("z2", etype="poke", note="é" * MAX_LINE_BYTES)],
}
# Lines that are not valid UTF-8 (Latin-1 from a legacy producer, a stray 0xFF), as raw bytes.
NON_UTF8 = [ev("n1", item="cafe").replace("cafe", "café").encode("latin-1"), b"\xff" + ev("n2").encode()]


def write_raw(root: str, date: str, files: dict[str, list[str | bytes]]) -> None:
    folder = Path(spark_path(Layout(root).raw_interactions(date)))
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (folder / name).write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))


def lake_rows(root: str) -> list[dict]:
    table = read_parquet(Layout(root).lake_interactions())  # every dt partition, as other stages read it
    return sorted(table.to_pylist(), key=lambda r: r["event_id"])


@pytest.fixture()
def config(tmp_path) -> PipelineConfig:
    return PipelineConfig(root=tmp_path.as_uri(), ingest=IngestConfig(max_line_bytes=MAX_LINE_BYTES))


@pytest.mark.spark
def test_day_with_known_bad_lines_gives_exact_counts(spark, config):
    bad_lines = [line for lines in BAD.values() for line in lines]
    write_raw(config.root, DAY, {
        "part-a.jsonl": GOOD[:3] + bad_lines[:9] + ["", "   "],  # blank lines are not records
        "part-b.jsonl": GOOD[3:] + DUPLICATES + bad_lines[9:] + NON_UTF8,
        "README.txt": ["not a log file: ignored"],
    })

    counts = clean_interactions(spark, config, DAY)

    expected_by_reason = {reason: len(lines) for reason, lines in BAD.items()} | {"non_utf8": len(NON_UTF8)}
    assert counts["quarantine_by_reason"] == expected_by_reason
    assert counts["clean"] == len(GOOD)
    assert counts["quarantined"] == len(bad_lines) + len(NON_UTF8)
    assert counts["duplicates"] == len(DUPLICATES)
    assert counts["duplicate_replays"] == 0
    assert counts["late_accepted"] == 1
    assert counts["read"] == len(GOOD) + len(DUPLICATES) + len(bad_lines) + len(NON_UTF8)
    assert counts["read"] == (counts["clean"] + counts["quarantined"] + counts["duplicates"]
                              + counts["duplicate_replays"])

    layout = Layout(config.root)
    quarantine = pq.read_table(spark_path(layout.quarantine("interactions", DAY)))
    assert quarantine.column_names == ["line", "line_bytes", "reason", "dt"]
    rows = quarantine.to_pylist()
    got = sorted((r["reason"], r["line"]) for r in rows if r["reason"] != "non_utf8")
    assert got == sorted((reason, line) for reason, lines in BAD.items() for line in lines)  # verbatim
    assert all(r["line_bytes"] is None for r in rows if r["reason"] != "non_utf8")
    # non-UTF-8: the exact bytes are kept for replay; the text column stays readable (U+FFFD)
    raw = sorted((r["line_bytes"], r["line"]) for r in rows if r["reason"] == "non_utf8")
    assert raw == sorted((b, b.decode("utf-8", errors="replace")) for b in NON_UTF8)
    assert set(quarantine.column("dt").to_pylist()) == {DAY}

    clean = pq.read_table(spark_path(layout.lake_interactions(DAY)))
    assert clean.column_names == ["event_id", "user_id", "item_id", "event_type", "ts", "watch_ms", "thumbnail_uri",
                                  "propensity", "impression_id", "dt"]
    assert str(clean.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    rows = {r["event_id"]: r for r in clean.to_pylist()}
    assert sorted(rows) == ["g1", "g2", "g3", "g4", "g5", "g6"]
    assert rows["g1"]["ts"].isoformat() == "2026-11-20T08:00:00+00:00"  # earliest copy kept
    assert rows["g2"]["watch_ms"] == 12000 and rows["g6"]["watch_ms"] is None
    assert rows["g5"]["ts"].isoformat() == "2026-11-19T00:00:00+00:00"  # late arrival keeps its ts
    assert rows["g6"]["ts"].isoformat() == "2026-11-20T12:00:00+00:00"
    assert {r["dt"] for r in rows.values()} == {DAY}


@pytest.mark.spark
def test_interval_boundaries(spark):
    """[DAY-1 00:00Z, DAY+1 00:00Z) is accepted, in any offset; a microsecond outside is not."""
    cases = {
        f"{PREV}T00:00:00Z": None,
        f"{PREV}T01:00:00+01:00": None,  # == PREV 00:00Z
        "2026-11-18T23:59:59.999999Z": "ts_outside_interval",
        f"{DAY}T23:59:59.999999Z": None,
        "2026-11-21T00:00:00Z": "ts_outside_interval",
        f"{DAY}T20:00:00-04:00": "ts_outside_interval",  # == DAY+1 00:00Z
    }
    lines = spark.createDataFrame([(ev(f"e{i}", ts=ts),) for i, ts in enumerate(cases)], "value string")
    got = {r["line"]: r["reason"] for r in classify_lines(lines, DAY).collect()}
    assert {ts: got[ev(f"e{i}", ts=ts)] for i, ts in enumerate(cases)} == cases


@pytest.mark.spark
def test_replays_across_dates_and_reruns_are_idempotent(spark, config):
    write_raw(config.root, PREV, {"a.jsonl": [
        ev("r1", ts=f"{PREV}T10:00:00Z"), ev("r2", ts=f"{PREV}T11:00:00Z")]})
    write_raw(config.root, DAY, {"a.jsonl": [
        ev("r1", ts=f"{PREV}T10:00:00Z"),  # replayed by upstream, already cleaned under PREV
        ev("d1"), ev("d1"), ev("d2", etype="like")]})

    first_prev = clean_interactions(spark, config, PREV)
    first_day = clean_interactions(spark, config, DAY)
    assert (first_prev["clean"], first_prev["duplicate_replays"]) == (2, 0)
    assert first_day == {**first_day, "read": 4, "clean": 2, "duplicates": 1, "duplicate_replays": 1,
                         "quarantined": 0, "quarantine_by_reason": {}}
    rows = lake_rows(config.root)
    assert [(r["event_id"], r["dt"]) for r in rows] == [
        ("d1", DAY), ("d2", DAY), ("r1", PREV), ("r2", PREV)]
    day_table = pq.read_table(spark_path(Layout(config.root).lake_interactions(DAY)))

    # Re-running either date, in any order, replaces its partition: same rows, no duplicates.
    assert clean_interactions(spark, config, DAY) == first_day
    assert clean_interactions(spark, config, PREV) == first_prev
    assert lake_rows(config.root) == rows
    assert pq.read_table(spark_path(Layout(config.root).lake_interactions(DAY))).equals(day_table)


def test_missing_logs_and_bad_date_are_clear_errors(config):
    with pytest.raises(FileNotFoundError, match=r"raw/interactions/dt=2026-11-20"):
        clean_interactions(None, config, DAY)  # fails before touching Spark
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        clean_interactions(None, config, "20-11-2026")


# Rules that can fail on one line: each costs its line, with its reason (issue: one bad row never stops the night).
ROW_RULES = {
    "duplicate_key:user_id": ['{"event_id": "k1", "user_id": "u1", "user_id": "u2", "item_id": "i1", '
                              f'"event_type": "click", "ts": "{DAY}T10:00:00Z"}}'],
    "duplicate_key:watch_ms": [ev("k2", etype="watch", watch_ms=5)[:-1] + ', "watch_ms": 9}'],
    "bad_id:user_id": [ev("i1", user="u\x001"), ev("i2", user=" u1"), ev("i3", user="u" * 300)],
    "bad_id:item_id": [ev("i4", item="i\n1"), ev("i5", item="i1\t")],
    "bad_id:event_id": [ev("e" * 257)],
    "implausible:watch_ms": [ev("w1", etype="watch", watch_ms=-5), ev("w2", etype="watch", watch_ms=86_400_001)],
    "bad_type:watch_ms": ['{"event_id": "w3", "user_id": "u1", "item_id": "i1", "event_type": "watch", '
                          f'"ts": "{DAY}T10:00:00Z", "watch_ms": 1e400}}'],  # an overflowing number is a double
    "bad_json": ['{"event_id": "n1", "user_id": "u1", "item_id": {"a": 1, "a": 2}, '  # repeated inside a field
                 f'"event_type": "click", "ts": "{DAY}T10:00:00Z"}}'],
}
STILL_GOOD = [
    ev("s1", etype="watch", watch_ms=0), ev("s2", etype="watch", watch_ms=86_400_000),
    ev("s3", user="ü" * 256),  # the limit counts characters, not bytes
    '{"event_id": "s4", "user_id": "u1", "user_id": "u1", "item_id": "i1", '  # a repeat that agrees
    f'"event_type": "click", "ts": "{DAY}T10:00:00Z"}}',
    ev("s5", meta={"user_id": "someone-else"}),  # a contract key's name inside an extra field is not a repeat
    ev("s6")[:-1] + ', "meta": {"x": 1, "x": 2}}',  # nor is a repeat inside an extra field we never read
]


@pytest.mark.spark
def test_row_rules_quarantine_their_line_and_keep_the_rest(spark):
    lines = [line for group in ROW_RULES.values() for line in group] + STILL_GOOD
    frame = spark.createDataFrame([(line,) for line in lines], "value string")
    got = {r["line"]: r["reason"] for r in classify_lines(frame, DAY).collect()}
    assert {line: got[line] for line in STILL_GOOD} == {line: None for line in STILL_GOOD}
    assert {line: got[line] for group in ROW_RULES.values() for line in group} == {
        line: reason for reason, group in ROW_RULES.items() for line in group}


@pytest.mark.spark
def test_contract_v2_impressions_and_what_follows_them(spark, config):
    """Impressions say which catalog asset they showed and with which probability; clicks name the impression
    they follow (today's, or one in the lake's lookback window). Each broken reference costs its row only."""
    asset = "ab" * 32 + ".jpg"
    layout = Layout(config.root)
    layout.store.write_bytes(layout.asset("ab" * 32, "jpg"), b"published thumbnail")
    shown = f"s3://elsewhere/generec/catalog/assets/{asset}"  # compared by content address, not by root
    write_raw(config.root, PREV, {"part.jsonl": [ev("imp0", etype="impression", ts=f"{PREV}T09:00:00Z",
                                                    thumbnail_uri=shown, propensity=0.9)]})
    clean_interactions(spark, config, PREV)
    good = [ev("imp1", etype="impression", thumbnail_uri=shown, propensity=0.05),
            ev("imp2", etype="impression", thumbnail_uri=shown, propensity=1),
            ev("clk1", etype="click", impression_id="imp1"),
            ev("clk0", etype="click", impression_id="imp0"),  # yesterday's impression
            ev("v1", etype="impression")]  # contract v1 still valid
    bad = {"implausible:propensity": [ev("p1", etype="impression", thumbnail_uri=shown, propensity=0),
                                      ev("p2", etype="impression", thumbnail_uri=shown, propensity=1.5)],
           "bad_type:propensity": [ev("p3", etype="impression", thumbnail_uri=shown, propensity="0.5")],
           "bad_type:thumbnail_uri": [ev("u0", etype="impression", thumbnail_uri=7)],
           "unknown_asset:thumbnail_uri": [ev("u1", etype="impression", thumbnail_uri="catalog/assets/" + "cd" * 32
                                                + ".jpg", propensity=0.5)],
           "unknown_impression": [ev("c2", etype="click", impression_id="nowhere"),
                                  ev("c3", etype="like", impression_id="p1")],  # p1 itself was quarantined
           "bad_id:impression_id": [ev("c4", etype="watch", impression_id=" imp1", watch_ms=10)]}
    write_raw(config.root, DAY, {"part.jsonl": good + [line for lines in bad.values() for line in lines]})
    counts = clean_interactions(spark, config, DAY)
    assert counts["quarantine_by_reason"] == {reason: len(lines) for reason, lines in bad.items()}
    assert counts["clean"] == len(good)
    rows = {r["event_id"]: r for r in lake_rows(config.root)}
    assert rows["imp1"]["propensity"] == 0.05 and rows["imp1"]["thumbnail_uri"] == shown
    assert rows["imp2"]["propensity"] == 1.0 and rows["clk0"]["impression_id"] == "imp0"
    assert rows["v1"]["thumbnail_uri"] is None and rows["v1"]["propensity"] is None
