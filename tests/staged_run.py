"""A gated run without the pipeline: staged files + gate rows, so publish tests take milliseconds.

``stage_run`` writes what personalise + gate would leave in ``work/run=<id>/`` for a few
users and items (bytes are deterministic per (item, version), so a re-run stages the same
assets and a new ``version`` stages different ones). ``catalog_problems`` is the reader's
invariant: everything CURRENT leads to exists, and nothing under ``catalog/`` has a key
that is not a content address, a manifest or the pointer.
"""

from __future__ import annotations

import json
import random
import re
import threading

import pyarrow as pa

from generec_core.datasets.layout import Layout, run_id_for, safe_name
from generec_core.stages import publish as publish_mod
from generec_core.stages.publish import PublishConflict
from generec_core.storage import ObjectNotFound, join, read_parquet, storage_for, write_parquet

CATALOG_KEY = re.compile(r"/catalog/(CURRENT|assets/[0-9a-f]{64}\.(jpg|mp4)|"
                         r"manifests/dt=\d{4}-\d{2}-\d{2}/run=nightly-\d{4}-\d{2}-\d{2}/manifest\.parquet|"
                         r"created/dt=\d{4}-\d{2}-\d{2}/run=nightly-\d{4}-\d{2}-\d{2}/items\.parquet)$")


def _bytes(tag: str, size: int = 64) -> bytes:
    """Deterministic bytes per tag (seeding with a str is stable across processes)."""
    return random.Random(tag).randbytes(size)


def stage_run(root: str, date: str, users: list[str], items: list[str], version: str = "v1",
              big_clip_bytes: int = 0, asset_bytes: int = 64) -> list[dict]:
    """Stage one asset set per item (thumbnail, cover, clip) and a row per (user, item); returns the rows.

    Assets are ``asset_bytes`` long; the first item's clip is ``big_clip_bytes`` when set.
    """
    layout, run_id = Layout(root), run_id_for(date)
    zone = join(layout.work(run_id), "staged")
    staged = {}
    for n, item in enumerate(items):
        name = safe_name(item)
        assets = {"thumbnail_staged": join(zone, "thumbnails", f"{name}-f001.jpg"),
                  "cover_staged": join(zone, "covers", f"{name}.jpg"),
                  "clip_staged": join(zone, "clips", f"{name}-w000-007.mp4")}
        for column, uri in assets.items():
            size = big_clip_bytes if (column == "clip_staged" and n == 0 and big_clip_bytes) else asset_bytes
            storage_for(uri).write_bytes(uri, _bytes(f"{version}|{item}|{column}", size))
        staged[item] = assets
    rows = [{"user_id": u, "item_id": i, **staged[i], "thumbnail_kind": "selected", "thumbnail_frame_ts": 1.5,
             "thumbnail_frame_idx": 1, "clip_start_s": 0.0, "clip_end_s": 2.0, "score": 0.5 + k / 100,
             "clip_score": 0.4, "retriever": "taste", "fallback": None, "encoder_id": "test-encoder",
             "generator_id": None}
            for k, (u, i) in enumerate((u, i) for u in users for i in items)]
    write_parquet(layout.gate_rows(run_id), pa.Table.from_pylist(rows))
    return rows


def catalog_problems(root: str) -> list[str]:
    """Empty when CURRENT points at a complete manifest and every catalog key is well-formed."""
    layout = Layout(root)
    problems = [f"unexpected catalog key {o.uri}" for o in storage_for(join(root, "catalog")).list(join(root, "catalog"))
                if not CATALOG_KEY.search(o.uri)]
    store = storage_for(layout.current)
    if store.head(layout.current) is None:
        return problems
    current = json.loads(store.read_bytes(layout.current))
    if "created" in current and storage_for(current["created"]).head(current["created"]) is None:
        problems.append(f"CURRENT points at a missing created items table {current['created']}")
    try:
        rows = read_parquet(current["manifest"]).to_pylist()
    except ObjectNotFound:
        return problems + [f"CURRENT points at a missing manifest {current['manifest']}"]
    for row in rows:
        for column in ("thumbnail_uri", "cover_uri", "clip_uri"):
            uri = row[column]
            if uri and storage_for(uri).head(uri) is None:
                problems.append(f"manifest row {row['user_id']!r}/{row['item_id']!r}: {column} {uri} is missing")
    return problems


def asset_keys(root: str) -> list[str]:
    assets = Layout(root).assets
    return sorted(o.uri.rsplit("/", 1)[-1] for o in storage_for(assets).list(assets))


def race(monkeypatch, step: str, publishers: list) -> list[str]:
    """Run publishers in threads that all reach ``step`` before any goes on; returns outcomes."""
    barrier = threading.Barrier(len(publishers), timeout=30)
    passed: set[int] = set()

    def hook(name: str) -> None:
        if name == step and threading.get_ident() not in passed:
            passed.add(threading.get_ident())
            barrier.wait()

    monkeypatch.setattr(publish_mod, "checkpoint_hook", hook)
    outcomes: list[str] = [""] * len(publishers)

    def run(k: int) -> None:
        try:
            publishers[k]()
            outcomes[k] = "won"
        except PublishConflict as exc:
            outcomes[k] = f"lost: {exc}"

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(publishers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes
