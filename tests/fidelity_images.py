"""Real images for the fidelity tests: demo frames (real photos rendered as the demo world does,
320x180) and their deliberately broken variants. Everything is deterministic."""

from __future__ import annotations

import io
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image
from skimage import data

from generec_core.demo.sources import plan_segment, render_segment


@lru_cache(maxsize=None)
def demo_frames(category: str, n: int = 4) -> tuple[np.ndarray, ...]:
    """``n`` consecutive 320x180 RGB frames of one demo category (seeded Ken Burns or video cut)."""
    plan = plan_segment(category, n / 12.0, np.random.default_rng(7))
    return tuple(render_segment(category, plan, n))


def demo_frame(category: str) -> np.ndarray:
    return demo_frames(category)[0]


def embedded_demo_frames(encoder, categories: tuple[str, ...]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One demo frame per category and its embedding by ``encoder``: the sources the fidelity tests check against."""
    frames = {c: demo_frame(c) for c in categories}
    return frames, dict(zip(categories, encoder.embed([frames[c] for c in categories])))


def jpeg(pixels: np.ndarray, quality: int = 90, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, **save)
    return buf.getvalue()


def png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def blurred(pixels: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    return cv2.GaussianBlur(pixels, (0, 0), sigma)


def blank_like(pixels: np.ndarray) -> np.ndarray:
    """The frame's own mean colour everywhere: what a dropped or black-filled frame looks like."""
    return np.broadcast_to(pixels.reshape(-1, 3).mean(0).astype(np.uint8), pixels.shape).copy()


def colour_shifted(pixels: np.ndarray) -> np.ndarray:
    """A generated-like edit: hue rotated ~24 degrees, saturation up 30%, geometry untouched."""
    hsv = cv2.cvtColor(pixels, cv2.COLOR_RGB2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + 12) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.3, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def astronaut_face() -> np.ndarray:
    """Eileen Collins' face from skimage's astronaut photo (the cascade finds it at 177,67 93x93)."""
    return data.astronaut()[42:180, 162:285]


def with_pasted_face(pixels: np.ndarray, side: int = 70, at: tuple[int, int] = (20, 120)) -> np.ndarray:
    face = astronaut_face()
    face = np.asarray(Image.fromarray(face).resize((side, round(side * face.shape[0] / face.shape[1]))))
    out = pixels.copy()
    y, x = at
    out[y:y + face.shape[0], x:x + face.shape[1]] = face[:out.shape[0] - y, :out.shape[1] - x]
    return out
