"""The guidance record, how a user's readings fold into it, and the generation trigger policy.

A ``Reading`` is what one instruction says (a delta); ``Guidance`` is the per-user state the
editor and generator consume (record contract in ``generec_core/instructor/__init__.py``).

Folding (``fold``): a user's accepted readings in time order; each one adds its labels and
removes the opposite ones ("more cartoon" then "less cartoonish" -> no cartoon), a length
or opt-out statement replaces the previous one. So the newest instruction wins where it
contradicts an older one, and older ones still count where it does not. Feedback-derived
topics fill in only topics no instruction spoke about, and are dropped for opted-out users
(opting out of personalisation means no inferred preferences either).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from generec_core.config import EditorConfig, InstructorConfig

Length = str | tuple[float | None, float | None] | None  # "shorter" | "longer" | (min_s, max_s) | None

SOURCES: tuple[str, ...] = ("instruction", "feedback", "default")


@dataclass(frozen=True)
class Reading:
    """What one instruction asks for (after scrubbing, guard rails and understanding)."""

    styles: tuple[str, ...] = ()
    avoid_styles: tuple[str, ...] = ()
    prefer_topics: tuple[str, ...] = ()
    avoid_topics: tuple[str, ...] = ()
    length: Length = None
    opt_out: bool | None = None  # True: opt out, False: opt back in, None: not mentioned
    rejected: str | None = None
    pii: tuple[str, ...] = ()  # kinds of personal data scrubbed from the text
    evidence: tuple[str, ...] = ()  # "label:how" per understood mention, for explanations


@dataclass(frozen=True)
class Guidance:
    generate: bool = False
    styles: tuple[str, ...] = ()
    avoid_styles: tuple[str, ...] = ()
    prefer_topics: tuple[str, ...] = ()
    avoid_topics: tuple[str, ...] = ()
    clip_seconds: dict[str, float | None] | None = None
    opt_out: bool = False
    rejected: str | None = None
    source: str = "default"
    user_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.user_id is None else {"user_id": self.user_id}
        out.update({"generate": self.generate, "styles": list(self.styles), "avoid_styles": list(self.avoid_styles),
                    "prefer_topics": list(self.prefer_topics), "avoid_topics": list(self.avoid_topics),
                    "clip_seconds": self.clip_seconds, "opt_out": self.opt_out, "rejected": self.rejected,
                    "source": self.source})
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, rec: dict[str, Any]) -> "Guidance":
        try:
            return cls(generate=bool(rec["generate"]), styles=tuple(rec["styles"]),
                       avoid_styles=tuple(rec.get("avoid_styles", ())), prefer_topics=tuple(rec["prefer_topics"]),
                       avoid_topics=tuple(rec["avoid_topics"]), clip_seconds=rec["clip_seconds"],
                       opt_out=bool(rec["opt_out"]), rejected=rec["rejected"], source=str(rec["source"]),
                       user_id=rec.get("user_id"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a guidance record ({exc!r}): {rec!r}") from None


ClipBase = tuple[float, float | None]  # the editor's clip_min_s / clip_max_s (None: no upper bound)
UNBOUNDED_REFERENCE_MAX_S = 15.0  # what "shorter" scales when the editor sets no upper bound


def clip_base(editor: EditorConfig) -> ClipBase:
    return (float(editor.clip_min_s), None if editor.clip_max_s is None else float(editor.clip_max_s))


DEFAULT_CLIP_BASE: ClipBase = clip_base(EditorConfig())


def clip_seconds(length: Length, cfg: InstructorConfig, base: ClipBase = DEFAULT_CLIP_BASE) -> dict | None:
    """Clip bounds in seconds for a length intent, relative to the editor's bounds ``base``.

    "shorter"/"longer" scale both bounds by ``cfg.shorter_factor``/``cfg.longer_factor``;
    numbers replace the bound they name and stretch the other one only as far as needed.
    ``max`` may be None (no upper bound) when the editor has none and nothing set one.
    """
    if length is None:
        return None
    lo, hi = base
    if length in ("shorter", "longer"):
        factor = cfg.shorter_factor if length == "shorter" else cfg.longer_factor
        hi = (UNBOUNDED_REFERENCE_MAX_S if hi is None and length == "shorter" else hi)
        lo, hi = lo * factor, None if hi is None else hi * factor
    else:
        want_lo, want_hi = length
        if want_hi is not None:
            hi, lo = want_hi, min(lo, want_hi)
        if want_lo is not None:
            lo, hi = want_lo, None if hi is None else max(hi, want_lo)
    return {"min": round(float(lo), 3), "max": None if hi is None else round(float(hi), 3)}


def _ordered(labels: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(labels)))


def fold(readings: Iterable[Reading], cfg: InstructorConfig, user_id: str | None = None,
         feedback: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()), base: ClipBase = DEFAULT_CLIP_BASE) -> Guidance:
    """One user's guidance from their readings (oldest first) and feedback (prefer, avoid) topics."""
    styles: set[str] = set()
    avoid_styles: set[str] = set()
    prefer: set[str] = set()
    avoid: set[str] = set()
    length: Length = None
    opt_out = False
    accepted = 0
    last_rejected: str | None = None
    for r in readings:
        if r.rejected is not None:
            last_rejected = r.rejected
            continue
        last_rejected = None
        accepted += 1
        styles = (styles - set(r.avoid_styles)) | set(r.styles)
        avoid_styles = (avoid_styles - set(r.styles)) | set(r.avoid_styles)
        prefer = (prefer - set(r.avoid_topics)) | set(r.prefer_topics)
        avoid = (avoid - set(r.prefer_topics)) | set(r.avoid_topics)
        if r.length is not None:
            length = r.length
        if r.opt_out is not None:
            opt_out = r.opt_out
    fb_prefer, fb_avoid = (set(), set()) if opt_out else (set(feedback[0]), set(feedback[1]))
    spoken = prefer | avoid
    fb_prefer, fb_avoid = fb_prefer - spoken - fb_avoid, fb_avoid - spoken
    source = "instruction" if accepted or last_rejected else ("feedback" if fb_prefer or fb_avoid else "default")
    return Guidance(generate=bool(styles) and not opt_out, styles=_ordered(styles),
                    avoid_styles=_ordered(avoid_styles), prefer_topics=_ordered(prefer | fb_prefer),
                    avoid_topics=_ordered(avoid | fb_avoid), clip_seconds=clip_seconds(length, cfg, base),
                    opt_out=opt_out, rejected=last_rejected, source=source, user_id=user_id)


# --- trigger policy -----------------------------------------------------------------------

@dataclass(frozen=True)
class Trigger:
    generate: bool
    reason: str  # "opt_out" | "style_requested" | "low_similarity" | "cover_skipped" | "select_only"


def should_generate(guidance: Guidance | None, best_frame_similarity: float | None, cover_skips: int,
                    cfg: InstructorConfig) -> Trigger:
    """Whether to generate a thumbnail for one (user, item), and why. Pure: no I/O.

    In order: an opted-out user never gets one; a style asked for in the guidance generates;
    so does a best existing frame whose cosine to the user's taste is below
    ``cfg.generate_below_similarity`` (selection has nothing good to offer), and a cover the
    user skipped at least ``cfg.cover_skips_to_generate`` times (the cover demonstrably does
    not work for them). Otherwise the editor only selects.
    """
    if guidance is not None and guidance.opt_out:
        return Trigger(False, "opt_out")
    if guidance is not None and guidance.styles:
        return Trigger(True, "style_requested")
    if best_frame_similarity is not None and best_frame_similarity < cfg.generate_below_similarity:
        return Trigger(True, "low_similarity")
    if cover_skips >= cfg.cover_skips_to_generate:
        return Trigger(True, "cover_skipped")
    return Trigger(False, "select_only")
