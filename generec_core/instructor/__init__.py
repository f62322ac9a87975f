"""Instructor: users' natural-language instructions and feedback -> generation guidance.

One guidance record per user and date, stored by ``datasets.guidance`` (one JSON object per
line). THE RECORD CONTRACT (stable; the editor and the generator read it, add fields only)::

    {"user_id":       str,
     "generate":      bool,        # the guidance itself asks for generated thumbnails
                                   # (a style was requested and the user has not opted out)
     "styles":        [str],       # subset of vocabulary.STYLE_NAMES: cartoon, vintage, vivid,
                                   # monochrome, cinematic, warm, cool. Build the prompt with
                                   # vocabulary.style_prompt(styles) -- never from user text.
     "avoid_styles":  [str],       # styles the user asked to drop ("less cartoonish")
     "prefer_topics": [str],       # subset of vocabulary.TOPIC_NAMES
     "avoid_topics":  [str],       # items whose `topics` intersect these are never promoted
     "clip_seconds":  {"min": float, "max": float} | null,   # null: editor defaults
     "opt_out":       bool,        # personalisation off: original cover + first clip only
     "rejected":      null | str,  # why the user's NEWEST instruction was refused
                                   # (guard.REASONS); the rest of the record still holds
     "source":        "instruction" | "feedback" | "default"}

Sorted lists, no free text: nothing a user typed reaches a prompt, a file name or a log.

Entry points: ``read_instruction(text)`` (one instruction -> Guidance, used by the CLI),
``stages/instruct.py`` (the nightly stage), ``guidance.should_generate`` (trigger policy),
``datasets.guidance.read_guidance(layout, date)`` (consumers' reader).
"""

from __future__ import annotations

from generec_core.config import InstructorConfig
from generec_core.instructor.encoder import TextEncoder, default_encoder
from generec_core.instructor.guidance import Guidance, Reading, Trigger, clip_seconds, fold, should_generate
from generec_core.instructor.reading import understand
from generec_core.instructor.vocabulary import STYLE_NAMES, TOPIC_NAMES, style_prompt

__all__ = ["Guidance", "Reading", "Trigger", "STYLE_NAMES", "TOPIC_NAMES", "clip_seconds", "fold",
           "read_instruction", "should_generate", "style_prompt", "understand"]


def read_instruction(text: str, cfg: InstructorConfig | None = None,
                     encoder: TextEncoder | None = None) -> Guidance:
    """The guidance one instruction alone would give (what ``generec instruct`` prints)."""
    cfg = cfg or InstructorConfig()
    return fold([understand(text, encoder or default_encoder(), cfg)], cfg)
