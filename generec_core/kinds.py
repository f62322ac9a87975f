"""The pipeline's vocabularies of kinds, named once: what a thumbnail is, what an asset is."""

from __future__ import annotations

from enum import StrEnum


class ThumbnailKind(StrEnum):
    """What a (user, item) row's thumbnail is."""

    SELECTED = "selected"  # the sampled frame that matches the user's taste best
    ORIGINAL = "original"  # the item's own cover (cold-start users, opt-outs, fallbacks)
    GENERATED = "generated"  # an image generated from the selected frame


class AssetKind(StrEnum):
    """What a staged asset is: decides the checks it gets and the stage whose pass rate it counts in."""

    SELECTED = "selected"
    COVER = "cover"
    GENERATED = "generated"
    CLIP = "clip"
