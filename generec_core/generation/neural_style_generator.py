"""The ``neural-style`` backend (default): a pretrained network renders the selected frame in the taste's style.

The paper conditions generation on the item's frames and the user's liked covers. Here both live
in the style space of Magenta's arbitrary stylisation network (``neural_style.py``):

1. the source frame's own style vector ``s_frame`` and the taste group's ``s_taste`` (the weighted
   mean of its liked covers' vectors, made by the generate stage with ``style_of``) are
   interpolated, ``s = (1 - strength) s_frame + strength s_taste``: at 0 the frame is rendered in
   its own style, at 1 wholly in the taste's. The frame's content always comes from the frame, so
   the fidelity gate can hold the result to it;
2. instructed styles with a reference (cartoon, vintage) pull ``s`` toward their reference vector
   (``style_recipes.with_references``);
3. the transformer renders the frame in ``s`` at the frame's own size;
4. the styles' tone edits (monochrome, warm, ...) are applied to the rendering.

Clips (content editing): every frame of the window is rendered with ONE style vector (taken from
the window's middle frame, then steps 1-2), so the style cannot drift; the per-frame edit
(rendering minus source) is blended over time where the footage stands still (``temporal.py``,
``clip_smoothing``), which keeps the network's texture from swimming between frames. A clip whose
styles are all tone edits (monochrome, warm, ...) needs no network at all: only the tone edit,
frame by frame.

No randomness: seeds are not used, and equal inputs give equal bytes (one image per network call,
fixed thread count, deterministic kernels).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from generec_core.config import GenerationConfig
from generec_core.generation.backend import GenerationRequest, GenerationSettings
from generec_core.generation.neural_style import MODEL_ID, StyleNetwork
from generec_core.generation.style_recipes import has_reference, tone_rgb, with_references
from generec_core.generation.temporal import blended_edits

# Half way between the frame's own style and the taste's: the taste visibly moves the image, and on demo frames
# 88% of thumbnails (every style recipe included) stay above the gate's generated bar (benchmarks/neural_style.py).
DEFAULT_STRENGTH = 0.5


class NeuralStyleGenerator:
    """Selected frame + taste style (+ instructed styles) -> the frame rendered by the stylisation network."""

    backend = "neural-style"
    needs_covers = False

    def __init__(self, config: GenerationConfig, network: StyleNetwork | None = None) -> None:
        strength = DEFAULT_STRENGTH if config.strength is None else config.strength
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"generation.strength must be in [0, 1], got {strength}")
        self.network = network or StyleNetwork(config.device, config.threads)
        self.smoothing = config.clip_smoothing
        self.settings = GenerationSettings(strength=strength, steps=1, guidance_scale=0.0, resolution=0)
        self.model_id = self.style_model_id = MODEL_ID
        self.generator_id = f"neural-style/{MODEL_ID}/s{strength:g}"
        self.clip_generator_id = f"{self.generator_id}-clip-b{self.smoothing:g}"
        self.style_encoder = self.clip_editor = self

    def style_of(self, image: np.ndarray) -> np.ndarray:
        return self.network.style_vector(image)

    def target_style(self, own_style: np.ndarray, taste_style: np.ndarray | None, styles: Sequence[str]) -> np.ndarray:
        """Steps 1-2 of the module docstring: the one style vector an image or a clip is rendered in."""
        s = self.settings.strength
        style = own_style if taste_style is None else (1.0 - s) * own_style + s * np.asarray(taste_style, np.float32)
        return with_references(style, styles)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[np.ndarray]:
        out = []
        for r in requests:
            style = self.target_style(self.style_of(r.image), r.taste_style, r.styles)
            out.append(tone_rgb(self.network.render(r.image, style), r.styles))
        return out

    def edit_clip(self, frames: Sequence[np.ndarray], taste_style: np.ndarray | None,
                  styles: Sequence[str]) -> list[np.ndarray]:
        if not frames:
            return []
        if taste_style is None and not has_reference(styles):
            return [tone_rgb(f, styles) for f in frames]
        style = self.target_style(self.style_of(frames[len(frames) // 2]), taste_style, styles)
        edits = (self.network.render(f, style).astype(np.float32) - f for f in frames)
        return [tone_rgb(f, styles) for f in blended_edits(frames, edits, self.smoothing)]
