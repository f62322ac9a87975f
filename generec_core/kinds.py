"""The pipeline's vocabularies of kinds, named once: what a thumbnail is, what an asset is."""

from __future__ import annotations

from enum import StrEnum


class ThumbnailKind(StrEnum):
    """What a (user, item) row's thumbnail is."""

    SELECTED = "selected"  # the sampled frame that matches the user's taste best
    ORIGINAL = "original"  # the item's own cover (cold-start users, opt-outs, fallbacks)
    GENERATED = "generated"  # an image generated from the selected frame
    CREATED = "created"  # the cover of a created item (the AI creator's; the row's item did not exist before)


class AssetKind(StrEnum):
    """What a staged asset is: decides the checks it gets and the stage whose pass rate it counts in."""

    SELECTED = "selected"
    COVER = "cover"
    GENERATED = "generated"
    CLIP = "clip"
    EDITED_CLIP = "edited_clip"
    CREATED_VIDEO = "created_video"
    CREATED_COVER = "created_cover"


class CandidateKind(StrEnum):
    """What a serving candidate of a (user, item) row is (the manifest's ``candidates``)."""

    SELECTED = "selected"  # the frame that matches the user's taste best
    RUNNER_UP = "runner-up"  # the next best distinct frame(s)
    GENERATED = "generated"
    ORIGINAL = "original"  # the item's own cover
    CREATED = "created"  # a created item's cover


class ClipKind(StrEnum):
    """What a (user, item) row's clip is (null when the row has none)."""

    SELECTED = "selected"  # the window of the video that matches the user's taste best, as cut
    EDITED = "edited"  # that window with every frame rendered in one style (content editing)
    CREATED = "created"  # a created item's whole video
