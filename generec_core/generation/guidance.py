"""The instructor's per-user guidance and trigger policy, as generation uses them.

The instructor (``generec_core/instructor``) owns the guidance record (stored by
``datasets.guidance``), the trigger policy (``should_generate``) and the style vocabulary
(``style_prompt``); this module only adds what generation needs on top: whether a user asked
for generation *explicitly* (then the image is theirs alone, not their cluster's).
"""

from __future__ import annotations

from generec_core.instructor import Guidance, should_generate, style_prompt

__all__ = ["Guidance", "is_explicit", "should_generate", "style_prompt"]


def is_explicit(guidance: Guidance | None) -> bool:
    """The user's own instruction asks for generated thumbnails (a style), and they have not opted out."""
    return guidance is not None and guidance.generate and not guidance.opt_out and guidance.source == "instruction"
