"""Ingest + features throughput: the Spark jobs vs the same computation in one pyarrow/numpy process.

Generates one day of N synthetic interaction events as raw JSONL (with ~1% duplicate lines
and ~0.5% bad lines of several kinds: bad JSON, missing field, unknown event type, non-UTF-8,
oversized), plus frame embeddings for the catalogue, then times

* Spark: ``clean_interactions`` (parse, validate, quarantine, dedup, write the lake) then
  ``build_user_features`` (weighted taste, top-K candidates, shards, write features and
  worklist) on ``--master`` (default local[*]); the session start and a 20k-event warm-up
  run (JIT, class loading) are timed apart.
* baseline: the same rules in one process — lines split in Python, ``json.loads`` per
  line, pyarrow for dedup and the pair aggregation, and the very same numpy ``Scorer``
  for tastes and candidates — writing the same three Parquet outputs.

ALS and k-means are off in both (the baseline has no equivalent); ``--full`` also times the
Spark features with them on. Both sides must agree on the clean / quarantine counts and the
number of users; the share of identical (user, item) candidate pairs is printed.

    .venv/bin/python benchmarks/spark_features.py [--events 10000000] [--master 'local[*]'] [--full]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from generec_core.config import FeaturesConfig, IngestConfig, PipelineConfig
from generec_core.datasets.interactions import EVENT_TYPES
from generec_core.datasets.layout import Layout, run_id_for
from generec_core.storage import local_dir

DATE = "2026-11-20"
TYPES = np.array(["impression", "click", "watch", "like", "share", "skip"])
TYPE_P = np.array([0.50, 0.20, 0.12, 0.08, 0.03, 0.07])
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$")
REQUIRED = ("event_id", "user_id", "item_id", "event_type", "ts")


# --- synthetic data ------------------------------------------------------------------------

def generate_raw(folder: Path, n: int, users: int, items: int, max_line: int, seed: int = 0) -> dict:
    """Write N events of DATE as JSONL files; return how many lines of each kind were written."""
    rng = np.random.default_rng(seed)
    day = datetime.fromisoformat(f"{DATE}T00:00:00+00:00")
    seconds = rng.integers(0, 86400, n)
    late = rng.random(n) < 0.01  # arrived a day late: accepted under the lateness policy
    stamps = pd.to_datetime(day.timestamp() + seconds - late * 86400, unit="s", utc=True)
    kinds = rng.choice(TYPES, n, p=TYPE_P)
    watch = np.where(kinds == "watch", rng.integers(0, 20000, n), -1)
    parts = [
        '{"event_id": "e', pa.array(np.arange(n).astype(str)),
        '", "user_id": "u', pa.array(rng.integers(0, users, n).astype(str)),
        '", "item_id": "i', pa.array(rng.integers(0, items, n).astype(str)),
        '", "event_type": "', pa.array(kinds), '", "ts": "', pa.array(stamps.strftime("%Y-%m-%dT%H:%M:%SZ")),
        '"', pa.array(np.where(watch >= 0, np.char.add(', "watch_ms": ', watch.astype(str)), "")), "}", "",
    ]
    lines = pc.binary_join_element_wise(*parts).to_pylist()
    dup = rng.choice(n, n // 100, replace=False)
    lines += [lines[i] for i in dup]
    k = max(1, n // 1000)
    bad: list[bytes] = []
    bad += [b'{"event_id": "b%d", "user_id": ' % i for i in range(k)]
    bad += [b'{"event_id": "m%d", "item_id": "i1", "event_type": "click", "ts": "%sT01:00:00Z"}' % (i, DATE.encode())
            for i in range(k)]
    bad += [('{"event_id": "k%d", "user_id": "u1", "item_id": "i1", "event_type": "poke", "ts": "%sT01:00:00Z"}'
             % (i, DATE)).encode() for i in range(k)]
    bad += [('{"event_id": "n%d", "user_id": "caf\xe9", "item_id": "i1", "event_type": "click", '
             '"ts": "%sT01:00:00Z"}' % (i, DATE)).encode("latin-1") for i in range(k)]
    bad += [('{"event_id": "o%d", "user_id": "u1", "pad": "%s"}' % (i, "x" * max_line)).encode() for i in range(k)]
    files = 4 if n >= 400_000 else 1
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(lines) // files)
    for f in range(files):
        chunk = "\n".join(lines[f * step:(f + 1) * step]).encode() + b"\n"
        if f == files - 1:
            chunk += b"\n".join(bad) + b"\n"
        (folder / f"part-{f:03d}.jsonl").write_bytes(chunk)
    return {"lines": len(lines) + len(bad), "events": n, "duplicate_lines": len(dup), "bad_lines": len(bad)}


def make_frames(items: int, dim: int, seed: int = 1) -> pa.Table:
    """A cover (frame_idx -1) and 4 sampled frames per item."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((items * 5, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return pa.table({
        "item_id": pa.array(np.repeat([f"i{i}" for i in range(items)], 5)),
        "frame_idx": pa.array(np.tile([-1, 0, 1, 2, 3], items), pa.int32()),
        "ts": pa.array(np.tile([0.0, 0.0, 1.0, 2.0, 3.0], items)),
        "embedding": pa.FixedSizeListArray.from_arrays(vectors.ravel(), dim).cast(pa.list_(pa.float32())),
    })


# --- the baseline: one process, pyarrow + numpy --------------------------------------------

def _classify(line: bytes, lo: datetime, hi: datetime, max_line: int) -> tuple[str | None, dict | None]:
    """The ingest rules (generec_core/spark/ingest.py), one line at a time."""
    if len(line) > max_line:
        return "oversized_line", None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "non_utf8", None
    stripped = text.strip(" ")
    try:
        obj = json.loads(text)
    except ValueError:
        return "bad_json", None
    if not isinstance(obj, dict) or not stripped.startswith("{") or not stripped.endswith("}"):
        return "bad_json", None
    for name in REQUIRED:
        value = obj.get(name)
        if value is None or (isinstance(value, str) and not value.strip(" ")):
            return f"missing_field:{name}", None
    for name in REQUIRED:
        if not isinstance(obj[name], str):
            return f"bad_type:{name}", None
    if not _ISO.match(obj["ts"]):
        return "bad_type:ts", None
    ts = datetime.fromisoformat(obj["ts"])
    ts = ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    watch = obj.get("watch_ms")
    if watch is not None and (not isinstance(watch, int) or isinstance(watch, bool)):
        return "bad_type:watch_ms", None
    if obj["event_type"] not in EVENT_TYPES:
        return "unknown_event_type", None
    if not lo <= ts < hi:
        return "ts_outside_interval", None
    return None, {"event_id": obj["event_id"], "user_id": obj["user_id"], "item_id": obj["item_id"],
                  "event_type": obj["event_type"], "ts": ts, "watch_ms": watch, "line": text}


def baseline(raw: Path, out: Path, frames: pa.Table, config: PipelineConfig) -> dict:
    """Ingest + features for DATE without Spark; returns counts comparable with the Spark side."""
    from generec_core.spark.features import ItemIndex, Scorer, interval_end, shard_of

    start = datetime.fromisoformat(f"{DATE}T00:00:00+00:00")
    lo, hi = start - timedelta(days=1), start + timedelta(days=1)
    rows, reasons, read = [], {}, 0
    for path in sorted(raw.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            if not line.strip(b" "):
                continue
            read += 1
            reason, row = _classify(line, lo, hi, config.ingest.max_line_bytes)
            if reason:
                reasons[reason] = reasons.get(reason, 0) + 1
            else:
                rows.append(row)
    events = pd.DataFrame(rows).sort_values(["event_id", "ts", "line"]).drop_duplicates("event_id")
    lake = pa.Table.from_pandas(events.drop(columns="line").assign(dt=DATE), preserve_index=False)
    pq.write_table(lake, out / "lake.parquet")

    f = config.features
    weights = {"like": f.like_weight, "share": f.share_weight, "click": f.click_weight, "skip": f.skip_weight}
    w = events["event_type"].map(weights).fillna(0.0).to_numpy()
    w = np.where((events["event_type"] == "watch") & (events["watch_ms"].fillna(-1) >= f.long_watch_ms),
                 f.long_watch_weight, w)
    age = (interval_end(DATE) - events["ts"]).dt.total_seconds().to_numpy() / 86400
    pairs = pa.table({"user_id": events["user_id"].to_numpy(), "item_id": events["item_id"].to_numpy(),
                      "liked": (events["event_type"] == "like").to_numpy().astype(np.int32),
                      "signal": w * 0.5 ** (np.maximum(age, 0) / f.half_life_days)})
    pairs = pairs.group_by(["user_id", "item_id"]).aggregate([("liked", "max"), ("signal", "sum")])
    pairs = pa.table({"user_id": pairs["user_id"], "item_id": pairs["item_id"], "liked": pairs["liked_max"],
                      "signal": pairs["signal_sum"]})
    users = pairs.group_by("user_id").aggregate([("item_id", "list"), ("liked", "list"), ("signal", "list")])
    users = pd.DataFrame({"user_id": users["user_id"].to_numpy(zero_copy_only=False),
                          "item_ids": users["item_id_list"].to_pandas(), "liked": users["liked_list"].to_pandas(),
                          "signal": users["signal_list"].to_pandas()})

    index = ItemIndex.from_frames(frames)
    likes = pairs.filter(pc.equal(pairs["liked"], 1)).group_by("item_id").aggregate([("user_id", "count")])
    like_counts = dict(zip(likes["item_id"].to_pylist(), likes["user_id_count"].to_pylist()))
    scorer = Scorer(index, f, np.array([like_counts.get(i, 0) for i in index.item_ids], np.float64),
                    index.global_taste(np.array([like_counts.get(i, 0) for i in index.cover_ids], np.float64)), None)
    scored = scorer.score_batch(users)
    scored["shard"] = [shard_of(u, f.shards) for u in scored["user_id"]]
    pq.write_table(pa.Table.from_pandas(scored[["user_id", "taste", "n_likes", "is_cold", "support", "shard"]],
                                        preserve_index=False), out / "users.parquet")
    worklist = scored[["user_id", "shard", "cand_item_ids", "cand_scores"]].explode(["cand_item_ids", "cand_scores"])
    worklist = worklist.dropna(subset=["cand_item_ids"])
    pq.write_table(pa.Table.from_pandas(worklist, preserve_index=False), out / "worklist.parquet")
    return {"read": read, "clean": len(events), "quarantine_by_reason": dict(sorted(reasons.items())),
            "users": len(scored), "pairs": set(zip(worklist["user_id"], worklist["cand_item_ids"]))}


# --- the Spark side ------------------------------------------------------------------------

def spark_run(config: PipelineConfig, frames: pa.Table, full: bool, warmup: PipelineConfig) -> dict:
    """Time ingest + features; a small run on its own root first warms the JVM (JIT, class loading)."""
    from generec_core.spark.session import get_spark
    from generec_core.stages.features import build_user_features
    from generec_core.stages.ingest import clean_interactions

    t0 = time.perf_counter()
    spark = get_spark(config.features.spark_master, "generec-benchmark", config.features.shuffle_partitions)
    clean_interactions(spark, warmup, DATE)
    build_user_features(spark, warmup, DATE, frames)
    t1 = time.perf_counter()
    ingest = clean_interactions(spark, config, DATE)
    t2 = time.perf_counter()
    features = build_user_features(spark, config, DATE, frames)
    t3 = time.perf_counter()
    out = {"session_s": t1 - t0, "ingest_s": t2 - t1, "features_s": t3 - t2, "ingest": ingest, "features": features}
    worklist = pq.read_table(local_dir(Layout(config.root).worklist(run_id_for(DATE))))
    out["pairs"] = set(zip(worklist["user_id"].to_pylist(), worklist["item_id"].to_pylist()))
    if full:
        with_models = dataclasses.replace(config, features=dataclasses.replace(config.features, als_top_k=2, clusters=8))
        t4 = time.perf_counter()
        out["features_full"] = build_user_features(spark, with_models, DATE, frames)
        out["features_full_s"] = time.perf_counter() - t4
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=None, help="default: events / 25")
    parser.add_argument("--items", type=int, default=None, help="default: events / 500, within [200, 5000]")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions")
    parser.add_argument("--full", action="store_true", help="also time Spark features with ALS + k-means")
    parser.add_argument("--keep", action="store_true", help="keep the generated data (printed path)")
    args = parser.parse_args()
    users = args.users or max(100, args.events // 25)
    items = args.items or min(5000, max(200, args.events // 500))

    work = Path(tempfile.mkdtemp(prefix="generec-bench-"))
    try:
        features = dataclasses.replace(FeaturesConfig(), spark_master=args.master, shuffle_partitions=args.partitions,
                                       als_top_k=0, clusters=1)
        config = PipelineConfig(root=(work / "root").as_uri(), features=features, ingest=IngestConfig(max_line_bytes=4096))
        t = time.perf_counter()
        written = generate_raw(local_dir(Layout(config.root).raw_interactions(DATE)), args.events, users, items,
                               config.ingest.max_line_bytes)
        frames = make_frames(items, args.dim)
        warmup = dataclasses.replace(config, root=(work / "warmup").as_uri())
        generate_raw(local_dir(Layout(warmup.root).raw_interactions(DATE)), 20_000, 1000, items,
                     config.ingest.max_line_bytes, seed=7)
        print(f"generated {written} for {users} users x {items} items (dim {args.dim}) in "
              f"{time.perf_counter() - t:.1f}s under {work}")

        spark = spark_run(config, frames, args.full, warmup)
        (work / "baseline").mkdir()
        t = time.perf_counter()
        base = baseline(local_dir(Layout(config.root).raw_interactions(DATE)), work / "baseline", frames, config)
        base_s = time.perf_counter() - t

        spark_s = spark["ingest_s"] + spark["features_s"]
        agree = {k: (spark["ingest"][k], base[k]) for k in ("read", "clean", "quarantine_by_reason")}
        agree["users"] = (spark["features"]["users"], base["users"])
        for key, (a, b) in agree.items():
            assert a == b, f"Spark and the baseline disagree on {key}: {a} vs {b}"
        same = len(spark["pairs"] & base["pairs"]) / max(1, len(spark["pairs"] | base["pairs"]))
        n = written["lines"]
        print(f"checks: read/clean/quarantine/users agree ({spark['ingest']['clean']} clean, "
              f"{spark['ingest']['quarantined']} quarantined, {spark['features']['users']} users); "
              f"identical candidate pairs {same:.4%}")
        print(f"spark    ({args.master}): session + 20k-event warm-up {spark['session_s']:.1f}s (not counted), ingest "
              f"{spark['ingest_s']:.1f}s + features {spark['features_s']:.1f}s = {spark_s:.1f}s -> "
              f"{n / spark_s:,.0f} events/s")
        print(f"baseline (1 process, pyarrow+numpy): {base_s:.1f}s -> {n / base_s:,.0f} events/s")
        print(f"ratio spark/baseline throughput: {base_s / spark_s:.2f}x")
        if args.full:
            print(f"spark features with ALS + k-means: {spark['features_full_s']:.1f}s "
                  f"({spark['features_full']['clusters']} clusters, {spark['features_full']['rows_per_retriever']})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
