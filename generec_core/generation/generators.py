"""Pick the thumbnail generator the config names: ``neural-style`` (default), ``restyle``, ``diffusers`` or ``none``.

Each backend declares its name (``backend``); this module only looks it up, so no backend
imports this one back. ``diffusers`` (torch, diffusers) is imported only when it is the configured backend:
the generate and create tasks of the default backends then never import torch (~1 s per task process).
"""

from __future__ import annotations

from generec_core.config import GENERATION_BACKENDS, GenerationConfig
from generec_core.generation.backend import Generator
from generec_core.generation.neural_style_generator import NeuralStyleGenerator
from generec_core.generation.restyle import RestyleGenerator

NONE = "none"  # generation switched off: every row keeps its selected frame
DIFFUSERS = "diffusers"  # diffusion.DiffusersGenerator.backend


def load_generator(config: GenerationConfig) -> Generator:
    """The configured backend, ready to run; a bad backend name or missing weights raise here."""
    if config.backend == NeuralStyleGenerator.backend:
        return NeuralStyleGenerator(config)
    if config.backend == RestyleGenerator.backend:
        return RestyleGenerator(config.strength, config.crop_scale)
    if config.backend == DIFFUSERS:
        from generec_core.generation.diffusion import DiffusersGenerator

        return DiffusersGenerator(config)
    raise ValueError(f"unknown generation.backend {config.backend!r}; choose one of {', '.join(GENERATION_BACKENDS)}")
