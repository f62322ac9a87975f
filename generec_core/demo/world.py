"""Build the deterministic demo world: the pipeline's raw inputs plus the truth behind them.

The demo world is what makes the pipeline runnable and *checkable* anywhere: real footage
cut into multi-category micro-videos, logs with planted tastes, a little dirt, and the
ground truth (who likes what, which category is on screen when) kept apart under
``demo/truth/`` so evaluations can score the pipeline without the pipeline ever seeing it.

It writes input contract v1 (see ``build_demo_world``) through ``generec_core.storage``,
so the same call fills a local folder or an S3 bucket.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from tqdm import tqdm

from generec_core.config import normalise_root
from generec_core.datasets.layout import Layout
from generec_core.datasets.truth import write_truth
from generec_core.demo import instructions, logs, sources, videos
from generec_core.storage import ObjectNotFound, join

CONTRACT_VERSION = "v1"
# Bump when the generator's output changes, so stored worlds are not mistaken for current ones.
GENERATOR_VERSION = 2  # 2: items carry topics; users write instructions

# Independent seeded streams: items do not change when the user count does, and a day's
# log depends only on (seed, date, users, items) -- not on how many days were built.
_STREAM_ITEMS, _STREAM_USERS, _STREAM_DAY, _STREAM_INSTRUCTIONS = 1, 2, 3, 4


class DemoWorldMismatch(ValueError):
    """A demo world with different parameters already lives at this root."""


@dataclass(frozen=True)
class DemoWorld:
    """Summary of a built demo world (also stored in ``demo/world.json``)."""

    root: str
    dates: list[str]
    n_items: int
    n_users: int
    n_events: int  # valid distinct events over all days (what a correct cleaner keeps)
    n_malformed: int  # malformed lines over all days
    categories: list[str]
    n_duplicates: int = 0  # extra copies of valid lines over all days
    n_lines: int = 0  # every line written, dirt included
    bad_items: list[str] = field(default_factory=list)  # item ids whose videos are deliberately broken
    n_cold_start_users: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def demo_dates(end_date: str, days: int) -> list[str]:
    """``days`` consecutive ISO dates ending at (and including) ``end_date``."""
    try:
        end = date.fromisoformat(end_date)
    except ValueError:
        raise ValueError(f"end_date must be an ISO date YYYY-MM-DD, got {end_date!r}") from None
    return [(end - timedelta(days=k)).isoformat() for k in range(days - 1, -1, -1)]


def _params(users: int, items: int, days: int, end_date: str, seed: int) -> dict[str, Any]:
    for name, value in (("users", users), ("items", items), ("days", days)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"demo world: {name} must be a positive integer, got {value!r}")
    demo_dates(end_date, 1)  # validates end_date
    return {"users": users, "items": items, "days": days, "end_date": end_date, "seed": int(seed),
            "generator_version": GENERATOR_VERSION, "contract": CONTRACT_VERSION,
            "video": {"width": sources.WIDTH, "height": sources.HEIGHT, "fps": sources.FPS,
                      "codec": "libx264", "crf": videos.CRF, "preset": videos.PRESET, "gop": videos.GOP,
                      "x264_params": videos.X264_PARAMS}}


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode("utf-8")


def _load_existing(layout: Layout, params: dict[str, Any]) -> DemoWorld | None:
    root = layout.root
    try:
        stored = json.loads(layout.store.read_text(layout.truth_world))
    except ObjectNotFound:
        return None
    if stored.get("params") != params:
        raise DemoWorldMismatch(
            f"a demo world with other parameters already exists at {root} "
            f"(stored {stored.get('params')}, requested {params}); use another root or delete it first"
        )
    return DemoWorld(**{**stored["summary"], "root": root})


def build_demo_world(root: str, users: int = 500, items: int = 100, days: int = 7,
                     end_date: str = "2026-11-24", seed: int = 7, *, progress: bool = True) -> DemoWorld:
    """Write the demo's raw inputs (contract v1) and ground truth under ``root``; idempotent.

    Writes::

        raw/items/items.jsonl                      {item_id, video, title, topics[, cover]} per line
        raw/items/videos/<item_id>.mp4             H.264 320x180, 2-3 category segments, 4-6 s
        raw/items/covers/<item_id>.jpg             for half of the items
        raw/interactions/dt=<date>/part-00000.jsonl  events + 3 malformed lines + 1-2 duplicates
        raw/instructions/dt=<date>/part-00000.jsonl  ~8% of users write an instruction (demo/instructions.py)
        demo/truth/{users,items}.jsonl             planted tastes and segment timing (not input)
        demo/world.json                            parameters + summary, written last

    ``demo/world.json`` is written last, so an interrupted build is simply rebuilt; if it
    exists with the same parameters nothing is written (rebuilding 100 videos is waste).
    """
    root = normalise_root(root)
    layout = Layout(root)
    params = _params(users, items, days, end_date, seed)
    existing = _load_existing(layout, params)
    if existing is not None:
        return existing

    dates = demo_dates(end_date, days)

    plans = videos.plan_items(items, np.random.default_rng([seed, _STREAM_ITEMS]))
    for plan in tqdm(plans, desc="demo videos", unit="item", file=sys.stderr, disable=not progress):
        for relpath, data in videos.item_files(plan).items():
            layout.store.write_bytes(join(layout.items_dir, relpath), data)
    layout.store.write_bytes(layout.items_manifest, _jsonl([p.manifest_row() for p in plans]))

    tastes = logs.plan_users(users, np.random.default_rng([seed, _STREAM_USERS]))
    log_items = [logs.LogItem(p.item_id, p.primary_category, int(p.duration_s * 1000)) for p in plans]
    day_stats = {}
    for d in dates:
        rng = np.random.default_rng([seed, _STREAM_DAY, date.fromisoformat(d).toordinal()])
        day = logs.day_log(d, tastes, log_items, rng)
        layout.store.write_bytes(layout.raw_interactions_file(d, 0), day.to_bytes())
        day_stats[d] = day.stats()
        notes = instructions.day_instructions(d, tastes, sources.CATEGORY_NAMES, np.random.default_rng(
            [seed, _STREAM_INSTRUCTIONS, date.fromisoformat(d).toordinal()]))
        if notes:
            layout.store.write_bytes(layout.raw_instructions_file(d, 0), _jsonl(notes))
        day_stats[d]["instructions"] = len(notes)

    write_truth(layout, [t.truth_row() for t in tastes], [p.truth_row() for p in plans])

    world = DemoWorld(
        root=root,
        dates=dates,
        n_items=items,
        n_users=users,
        n_events=sum(s["events"] for s in day_stats.values()),
        n_malformed=sum(s["malformed"] for s in day_stats.values()),
        categories=list(sources.CATEGORY_NAMES),
        n_duplicates=sum(s["duplicates"] for s in day_stats.values()),
        n_lines=sum(s["lines"] for s in day_stats.values()),
        bad_items=[p.item_id for p in plans if p.defect],
        n_cold_start_users=sum(t.cold_start for t in tastes),
    )
    summary = {k: v for k, v in world.to_dict().items() if k != "root"}  # the world can be moved
    doc = {"params": params, "summary": summary, "days": day_stats}
    layout.store.write_bytes(layout.truth_world, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    return world
