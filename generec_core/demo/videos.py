"""Demo items: which categories each video is cut from, and the MP4/JPEG bytes themselves.

Every item is 2-3 segments of *different* categories, so the frame (or clip) a user should
be shown depends on that user's taste -- the whole point of personalised thumbnails and
clipping. Encoding is pinned (libx264, one thread, fixed GOP/CRF, bit-exact muxing, no
creation time), so a rebuild gives byte-identical files and content hashes stay stable.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from generec_core.demo.instructions import item_topics
from generec_core.demo.sources import CATEGORY_NAMES, FPS, HEIGHT, WIDTH, category, plan_segment, render_segment

GOP = 2 * FPS  # a keyframe every 2 s (plus x264 scene cuts at segment changes)
CRF = "23"
PRESET = "veryfast"
# mbtree off: x264 core 165 (PyAV 18 wheels) on AVX-512 CPUs gives run-to-run different
# bytes for identical frames when macroblock-tree rate control meets B-frames (measured:
# 4 of 6 demo items varied within one process; asm=AVX2, bframes=0 or mbtree=0 all fix it).
X264_PARAMS = "mbtree=0"
COVER_JPEG_QUALITY = 90
TRUNCATE_FRACTION = 0.4  # the truncated item keeps this share of a good file's bytes

# Defects planted on purpose, so the pipeline's quarantine path runs on the demo.
ZERO_BYTES = "zero_bytes"
TRUNCATED = "truncated"


def item_id(i: int) -> str:
    return f"item-{i:04d}"


@dataclass(frozen=True)
class SegmentPlan:
    category: str
    start_frame: int
    end_frame: int  # exclusive
    render: dict  # seeded rendering choices (clip offset, or pan/zoom path)

    @property
    def start_s(self) -> float:
        return self.start_frame / FPS

    @property
    def end_s(self) -> float:
        return self.end_frame / FPS


@dataclass(frozen=True)
class ItemPlan:
    item_id: str
    title: str
    segments: tuple[SegmentPlan, ...]
    cover_segment: int | None  # index of the segment the cover JPEG is taken from; None: no cover
    defect: str | None

    @property
    def primary_category(self) -> str:
        """The category a user judges the item by: its cover's, or (no cover) its first frame's."""
        return self.segments[self.cover_segment or 0].category

    @property
    def n_frames(self) -> int:
        return self.segments[-1].end_frame

    @property
    def duration_s(self) -> float:
        return self.n_frames / FPS

    @property
    def video_relpath(self) -> str:
        return f"videos/{self.item_id}.mp4"

    @property
    def cover_relpath(self) -> str | None:
        return None if self.cover_segment is None else f"covers/{self.item_id}.jpg"

    def manifest_row(self) -> dict:
        """The item's line in raw/items/items.jsonl (input contract v1)."""
        row = {"item_id": self.item_id, "video": self.video_relpath, "title": self.title,
               "topics": item_topics([seg.category for seg in self.segments])}
        if self.cover_relpath is not None:
            row["cover"] = self.cover_relpath
        return row

    def truth_row(self) -> dict:
        """Ground truth for evaluation only; never read by the pipeline."""
        return {
            "item_id": self.item_id,
            "primary_category": self.primary_category,
            "segments": [{"category": s.category, "start_s": s.start_s, "end_s": s.end_s} for s in self.segments],
            "duration_s": self.duration_s,
            "fps": FPS,
            "cover": self.cover_relpath,
            "cover_time_s": None if self.cover_segment is None else self.cover_frame / FPS,
            "defect": self.defect,
        }

    @property
    def cover_frame(self) -> int:
        seg = self.segments[self.cover_segment or 0]
        return (seg.start_frame + seg.end_frame) // 2


def _segment_lengths(n_segments: int, rng: np.random.Generator) -> list[int]:
    """Frame counts: 2 segments of 2.0-2.5 s or 3 of 1.5-2.0 s, so a video lasts 4-6 s."""
    lo, hi = (2.0, 2.5) if n_segments == 2 else (1.5, 2.0)
    return [int(round(float(rng.uniform(lo, hi)) * FPS)) for _ in range(n_segments)]


def plan_items(n_items: int, rng: np.random.Generator) -> list[ItemPlan]:
    """Seeded plans for all items: balanced primary categories, half with covers, 2 defects."""
    n_cat = len(CATEGORY_NAMES)
    primaries: list[str] = []
    while len(primaries) < n_items:  # every category is primary equally often
        primaries.extend(CATEGORY_NAMES[j] for j in rng.permutation(n_cat))
    with_cover = set(rng.permutation(n_items)[: n_items // 2].tolist())
    n_bad = 2 if n_items >= 4 else 0  # tiny worlds keep every item usable
    bad = rng.permutation(n_items)[:n_bad].tolist()
    defects = dict(zip(bad, (ZERO_BYTES, TRUNCATED)))

    plans = []
    for i in range(n_items):
        primary = primaries[i]
        n_seg = int(rng.integers(2, 4))
        others = [c for c in CATEGORY_NAMES if c != primary]
        cats = [primary] + [others[j] for j in rng.permutation(len(others))[: n_seg - 1]]
        cover_segment = None
        if i in with_cover:  # the cover can come from any segment: the first frame is not the point
            cover_segment = int(rng.integers(0, n_seg))
            cats[0], cats[cover_segment] = cats[cover_segment], cats[0]
        lengths = _segment_lengths(n_seg, rng)
        segments, start = [], 0
        for cat, length in zip(cats, lengths):
            duration = length / FPS
            segments.append(SegmentPlan(cat, start, start + length, plan_segment(cat, duration, rng)))
            start += length
        first = category(cats[0]).phrase
        title = f"{first[:1].upper()}{first[1:]}, then {category(cats[1]).phrase} (#{i})"
        plans.append(ItemPlan(item_id(i), title, tuple(segments), cover_segment, defects.get(i)))
    return plans


def render_frames(plan: ItemPlan) -> list[np.ndarray]:
    frames: list[np.ndarray] = []
    for seg in plan.segments:
        frames.extend(render_segment(seg.category, seg.render, seg.end_frame - seg.start_frame))
    return frames


def encode_mp4(frames: list[np.ndarray]) -> bytes:
    """H.264/yuv420p MP4 bytes, deterministic: one x264 thread, no mbtree, bit-exact, faststart.

    faststart puts the index (moov) first, as streaming platforms do; it also makes the
    truncated demo item open fine and fail only while decoding -- the nastier failure.
    """
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="generec-demo-")
    os.close(fd)
    try:
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart", "fflags": "+bitexact"}) as out:
            stream = out.add_stream("libx264", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            stream.codec_context.gop_size = GOP
            stream.codec_context.thread_count = 1
            stream.codec_context.time_base = Fraction(1, FPS)
            stream.options = {"crf": CRF, "preset": PRESET, "x264-params": X264_PARAMS}
            for k, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = k
                frame.time_base = Fraction(1, FPS)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def encode_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=COVER_JPEG_QUALITY, optimize=False)
    return buf.getvalue()


def item_files(plan: ItemPlan) -> dict[str, bytes]:
    """Every file of one item, keyed by its path relative to raw/items/ (defects applied)."""
    frames = render_frames(plan)
    video = encode_mp4(frames)
    if plan.defect == ZERO_BYTES:
        video = b""
    elif plan.defect == TRUNCATED:
        video = video[: int(len(video) * TRUNCATE_FRACTION)]
    files = {plan.video_relpath: video}
    if plan.cover_relpath is not None:
        files[plan.cover_relpath] = encode_jpeg(frames[plan.cover_frame])
    return files
