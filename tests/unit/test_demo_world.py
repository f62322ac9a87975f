"""The demo world honours input contract v1, plants the tastes it claims, and is reproducible.

One small world (20 users, 8 items, 2 days) is built once per module; the checks read it
back with independent code (PyAV, PIL, json), never through the generator's own helpers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from generec_core.config import normalise_root
from generec_core.datasets.layout import Layout
from generec_core.datasets.truth import category_of_time, read_truth_items, read_truth_users
from generec_core.demo import CATEGORY_NAMES, DemoWorldMismatch, build_demo_world, sources

SMALL = {"users": 20, "items": 8, "days": 2, "end_date": "2026-11-24", "seed": 7}
EVENT_TYPES = {"impression", "click", "like", "share", "skip", "watch"}
REQUIRED = ("event_id", "user_id", "item_id", "event_type", "ts")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return build_demo_world(str(root), progress=False, **SMALL), root


def _manifest(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "raw/items/items.jsonl").read_text().splitlines()]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _classify(line: str, date_str: str) -> tuple[str, dict | None]:
    """'ok' | 'malformed', judged by the contract alone."""
    try:
        ev = json.loads(line)
    except json.JSONDecodeError:
        return "malformed", None
    if not isinstance(ev, dict) or any(not isinstance(ev.get(k), str) for k in REQUIRED):
        return "malformed", None
    if ev["event_type"] not in EVENT_TYPES or not ev["ts"].startswith(date_str + "T"):
        return "malformed", None
    return "ok", ev


def test_items_manifest_follows_contract_v1(world):
    w, root = world
    rows = _manifest(root)
    assert len(rows) == w.n_items == SMALL["items"]
    assert len({r["item_id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) <= {"item_id", "video", "title", "cover", "topics"}
        assert r["topics"] and all(isinstance(t, str) for t in r["topics"])  # optional contract field
        assert re.fullmatch(r"item-\d{4}", r["item_id"])
        assert r["video"] == f"videos/{r['item_id']}.mp4" and (root / "raw/items" / r["video"]).is_file()
        assert isinstance(r["title"], str) and r["title"]
        if "cover" in r:
            with Image.open(root / "raw/items" / r["cover"]) as img:
                assert img.format == "JPEG" and img.mode == "RGB"
                assert img.size == (sources.WIDTH, sources.HEIGHT)
    assert sum("cover" in r for r in rows) == SMALL["items"] // 2


def test_videos_decode_with_the_recorded_segments(world):
    w, root = world
    truth = read_truth_items(Layout(normalise_root(str(root))))
    good = [t for t in truth.values() if t["defect"] is None]
    assert len(good) == SMALL["items"] - 2
    for t in good:
        segs = t["segments"]
        assert 2 <= len(segs) <= 3 and len({s["category"] for s in segs}) == len(segs)
        assert segs[0]["start_s"] == 0 and all(a["end_s"] == b["start_s"] for a, b in zip(segs, segs[1:]))
        assert all(1.5 - 1e-9 <= s["end_s"] - s["start_s"] <= 2.5 + 1e-9 for s in segs)
        assert 4.0 - 1e-9 <= t["duration_s"] <= 6.0 + 1e-9 and segs[-1]["end_s"] == t["duration_s"]

        with av.open(str(root / "raw/items/videos" / f"{t['item_id']}.mp4")) as c:
            stream = c.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.format.name == "yuv420p"
            assert (stream.width, stream.height) == (sources.WIDTH, sources.HEIGHT)
            frames = [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24").astype(np.int16))
                      for f in c.decode(stream)]
        assert len(frames) == round(t["duration_s"] * t["fps"])
        assert frames[-1][0] == pytest.approx(t["duration_s"] - 1 / t["fps"], abs=1e-3)

        # the recorded boundaries are where the picture really changes category
        diffs = [np.abs(b - a).mean() for (_, a), (_, b) in zip(frames, frames[1:])]
        cuts = [round(s["start_s"] * t["fps"]) for s in segs[1:]]
        within = np.median([d for k, d in enumerate(diffs) if k + 1 not in cuts])
        for cut in cuts:
            assert diffs[cut - 1] > 3 * within + 5, (t["item_id"], cut, diffs[cut - 1], within)


def test_covers_show_the_primary_category(world):
    _, root = world
    for t in read_truth_items(Layout(normalise_root(str(root)))).values():
        if t["cover"] is None:
            continue
        cover = np.asarray(Image.open(root / "raw/items" / t["cover"]).convert("RGB"), dtype=np.int16)
        assert category_of_time(t, t["cover_time_s"]) == t["primary_category"]
        if t["defect"] is not None:
            continue
        with av.open(str(root / "raw/items/videos" / f"{t['item_id']}.mp4")) as c:
            frames = [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]
        k = round(t["cover_time_s"] * t["fps"])
        dist = [np.abs(f - cover).mean() for f in frames]
        assert int(np.argmin(dist)) in (k - 1, k, k + 1) and dist[k] < 8


def test_bad_items_are_zero_bytes_and_truncated(world):
    w, root = world
    truth = read_truth_items(Layout(normalise_root(str(root))))
    bad = {t["item_id"]: t["defect"] for t in truth.values() if t["defect"]}
    assert sorted(bad.values()) == ["truncated", "zero_bytes"] and sorted(bad) == sorted(w.bad_items)
    listed = {r["item_id"] for r in _manifest(root)}
    assert set(bad) <= listed
    for item, defect in bad.items():
        path = root / "raw/items/videos" / f"{item}.mp4"
        if defect == "zero_bytes":
            assert path.stat().st_size == 0
        else:
            assert path.stat().st_size > 0
        with pytest.raises(av.error.FFmpegError):
            with av.open(str(path)) as c:
                for _ in c.decode(video=0):
                    pass


def test_logs_carry_exactly_the_claimed_dirt(world):
    w, root = world
    stored = json.loads((root / "demo/world.json").read_text())
    assert w.dates == ["2026-11-23", "2026-11-24"]
    items = {r["item_id"] for r in _manifest(root)}
    users = set(read_truth_users(Layout(normalise_root(str(root)))))
    all_ids: set[str] = set()
    total_valid = total_malformed = total_dup = 0
    for d in w.dates:
        lines = (root / f"raw/interactions/dt={d}/part-00000.jsonl").read_text().splitlines()
        kinds = Counter()
        day_ids: set[str] = set()
        for line in lines:
            kind, ev = _classify(line, d)
            if kind == "ok" and ev["event_id"] in day_ids:
                kind = "duplicate"
                assert lines.count(line) == 2  # an exact copy of the whole line
            kinds[kind] += 1
            if kind != "ok":
                continue
            day_ids.add(ev["event_id"])
            assert ev["user_id"] in users and ev["item_id"] in items
            date.fromisoformat(ev["ts"][:10])
            assert re.fullmatch(rf"{d}T\d\d:\d\d:\d\dZ", ev["ts"])
            assert ("watch_ms" in ev) == (ev["event_type"] == "watch")
            if "watch_ms" in ev:
                assert isinstance(ev["watch_ms"], int) and ev["watch_ms"] > 0
        assert kinds["malformed"] == 3 == stored["days"][d]["malformed"]
        assert 1 <= kinds["duplicate"] <= 2 and kinds["duplicate"] == stored["days"][d]["duplicates"]
        assert kinds["ok"] == stored["days"][d]["events"] and len(lines) == stored["days"][d]["lines"]
        assert not (day_ids & all_ids)  # event ids are unique across days too
        all_ids |= day_ids
        total_valid, total_malformed, total_dup = (total_valid + kinds["ok"], total_malformed + kinds["malformed"],
                                                    total_dup + kinds["duplicate"])
    assert (w.n_events, w.n_malformed, w.n_duplicates) == (total_valid, total_malformed, total_dup)
    assert 10 <= w.n_events / (SMALL["users"] * SMALL["days"]) <= 20


def test_tastes_are_planted(world):
    _, root = world
    users = read_truth_users(Layout(normalise_root(str(root))))
    items = read_truth_items(Layout(normalise_root(str(root))))
    likes: dict[str, list[str]] = {}
    for path in sorted(root.glob("raw/interactions/dt=*/part-00000.jsonl")):
        for line in path.read_text().splitlines():
            kind, ev = _classify(line, path.parent.name[3:])
            if kind == "ok" and ev["event_type"] == "like":
                likes.setdefault(ev["user_id"], []).append(items[ev["item_id"]]["primary_category"])
    assert all(set(u["favourite_categories"]) <= set(CATEGORY_NAMES) for u in users.values())
    cold = {u for u, t in users.items() if t["cold_start"]}
    assert len(cold) == 1 and not (cold & set(likes))
    on_favourite = sum(c in users[u]["favourite_categories"] for u, cs in likes.items() for c in cs)
    assert on_favourite / sum(map(len, likes.values())) >= 0.8
    assert len(likes) >= 0.8 * (len(users) - len(cold))


def test_two_builds_are_byte_identical(world, tmp_path):
    _, root = world
    sources.load_video.cache_clear()  # re-decode the source clips too
    sources.load_photo.cache_clear()
    build_demo_world(str(tmp_path / "again"), progress=False, **SMALL)
    first, second = _files(root), _files(tmp_path / "again")
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


def test_second_build_into_the_same_root_is_a_no_op(world):
    w, root = world
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    again = build_demo_world(root.as_uri(), progress=False, **SMALL)
    assert again == w
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
    with pytest.raises(DemoWorldMismatch, match="other parameters"):
        build_demo_world(str(root), progress=False, **{**SMALL, "users": 21})


def test_bad_parameters_name_the_input(tmp_path):
    with pytest.raises(ValueError, match="users"):
        build_demo_world(str(tmp_path), users=0)
    with pytest.raises(ValueError, match="end_date"):
        build_demo_world(str(tmp_path), end_date="24/11/2026")
    assert not any(tmp_path.iterdir())


def test_category_of_time_follows_half_open_segments():
    item = {"item_id": "x", "segments": [{"category": "cat", "start_s": 0.0, "end_s": 2.0},
                                         {"category": "bunny", "start_s": 2.0, "end_s": 4.5}]}
    assert category_of_time(item, 0.0) == "cat"
    assert category_of_time(item, 1.999) == "cat"
    assert category_of_time(item, 2.0) == "bunny"
    assert category_of_time(item, 2.0 - 1e-12) == "bunny"  # float noise around a boundary
    assert category_of_time(item, 4.5) == "bunny"  # past the end: the last frame's category
    with pytest.raises(ValueError, match="'x'"):
        category_of_time(item, -0.1)
