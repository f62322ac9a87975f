"""What a created video says about itself: that it is AI-made, by which creator, and which seconds of which
items it shows, in its own container tags, so the statement travels with the file wherever it is copied.

The AI mark is the human-readable statement the gate's identifiability check reads in MP4 tags
(``fidelity.metadata.ai_clip_tags``); the provenance is a JSON list of ``{item_id, start_s, end_s}``
in playback order, in the ``description`` tag. It names items, never users.
"""

from __future__ import annotations

import json
from typing import TypedDict

from generec_core.fidelity.metadata import ai_clip_tags

PROVENANCE_TAG = "description"
_PREFIX = "generec provenance "


class Source(TypedDict):
    item_id: str
    start_s: float
    end_s: float


def created_video_tags(creator_id: str, sources: list[Source]) -> dict[str, str]:
    tags = ai_clip_tags(creator_id)
    tags["comment"] = tags["comment"].replace("AI-generated clip", "AI-generated video")
    tags[PROVENANCE_TAG] = _PREFIX + json.dumps(sources, separators=(",", ":"), sort_keys=True)
    return tags


def provenance_in(metadata: list[str]) -> list[Source] | None:
    """The sources a video's tags (``fidelity.metadata.clip_metadata``) name; None when it names none."""
    for text in metadata:
        key, _, value = text.partition("=")
        if key == PROVENANCE_TAG and value.startswith(_PREFIX):
            try:
                return json.loads(value[len(_PREFIX):])
            except ValueError:
                return None
    return None
