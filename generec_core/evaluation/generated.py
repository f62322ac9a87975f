"""Embeddings of what generation published: generated thumbnails and the frames of edited clips.

Repurposed assets are sampled frames whose embeddings the frames stage stored; generated ones
are new pixels, so Cosine@K needs them embedded by the same encoder. An edited clip is embedded
at the sampled frames its window covers (the times the stored frames were taken), so it is
compared with its source clip frame for frame. ``Embed`` is the stage's: the audit already embedded every
generated thumbnail and some of each edited clip's frames, and those outputs are reused by pixels.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, Sequence

import numpy as np

from generec_core.fidelity.audit import decode_clip_at
from generec_core.fidelity.quality import decode_image
from generec_core.kinds import ClipKind, ThumbnailKind
from generec_core.video.decode import VideoDecodeError

log = logging.getLogger(__name__)

Read = Callable[[str], bytes]
Embed = Callable[[list[np.ndarray]], Sequence[np.ndarray]]  # images -> one embedding each


def generated_thumbnails(rows: list[dict], read: Read, embed: Embed) -> dict[str, np.ndarray]:
    """thumbnail_uri -> embedding of every published generated thumbnail (unreadable ones left out, logged)."""
    uris = sorted({r["thumbnail_uri"] for r in rows if r["thumbnail_kind"] == ThumbnailKind.GENERATED})
    pixels: dict[str, np.ndarray] = {}
    for uri in uris:
        try:
            pixels[uri] = decode_image(read(uri))
        except Exception as exc:  # noqa: BLE001 - one unreadable asset is left out of the evaluation, not fatal
            log.warning("generated thumbnail %s not evaluated: %s", uri, exc)
    return dict(zip(pixels, embed(list(pixels.values())))) if pixels else {}


def edited_clips(rows: list[dict], read: Read, embed: Embed,
                 sampled_times: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """clip_uri -> (n, D) embeddings of a published edited clip at the sampled times its window covers."""
    out: dict[str, np.ndarray] = {}
    for r in rows:
        uri = r["clip_uri"]
        if r.get("clip_kind") != ClipKind.EDITED or uri in out:
            continue
        times = sampled_times.get(r["item_id"], np.array([]))
        inside = times[(times >= r["clip_start_s"] - 1e-6) & (times < r["clip_end_s"] - 1e-6)]
        if not len(inside):
            continue
        try:
            _, _, frames = decode_clip_at(read(uri), [t - r["clip_start_s"] for t in inside])
        except (VideoDecodeError, OSError) as exc:
            log.warning("edited clip %s not evaluated: %s", uri, exc)
            continue
        out[uri] = np.stack(embed(frames))
    return out
