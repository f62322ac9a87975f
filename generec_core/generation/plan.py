"""Which staged rows get a generated thumbnail, and how rows share one generation.

Only rows with a personalised *selected* frame qualify (cold-start users show the original
cover and have no taste of their own). For those, in order:

1. guidance ``opt_out`` -> never;
2. an explicit instruction asking for a style -> a per-(user, item) image in the user's styles,
   from their own liked covers;
3. ``generation.trigger``: ``policy`` (default) applies the instructor's trigger policy
   (``instructor.should_generate``: a style in the guidance, the best frame's cosine to the
   taste below ``instructor.generate_below_similarity``, or a cover the user skipped
   repeatedly), ``all`` generates for every selected row, ``none`` for none.

Clips (content editing, ``generation.edit_clips``), independent of the thumbnail:
``instruction`` (default) edits every clip of a user who asked for a style, in that style (cold
start included: the instructed style needs no taste); ``policy`` also edits the clips of every
other row a generation job triggered for, in its taste group's style; ``none`` edits nothing.
Rows that need the same edit (same clip; same styles, or same taste group) share one.

Rows that trigger for the same (taste cluster, item, selected frame) share one image. Users
of one cluster mostly select the same frame, so cost stays near clusters x items instead of
users x items, and every generated image derives from the very frame its user's selection
chose (which is also what the gate falls back to). The stage reports both numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from generec_core.config import CLIP_EDIT_CHOICES, GenerationConfig, InstructorConfig
from generec_core.generation.clusters import COLD
from generec_core.generation.guidance import Guidance, is_explicit, should_generate, style_prompt
from generec_core.generation.palette import Palette, colour_words
from generec_core.kinds import ThumbnailKind

TRIGGERS: tuple[str, ...] = ("policy", "all", "none")
PER_USER, CLUSTER = "user", "cluster"


@dataclass
class GenerationJob:
    """One image to generate, and the staged rows (indices) that will show it."""

    group: str  # taste cluster label, or "user:<id>" for an explicit per-user request
    per_user: bool
    item_id: str
    frame_idx: int
    frame_ts: float | None
    source_staged: str  # the selected frame, staged by personalise
    styles: tuple[str, ...]
    rows: list[int] = field(default_factory=list)


def trigger(row: dict, guidance: Guidance | None, cover_skips: int, config: GenerationConfig,
            instructor: InstructorConfig) -> tuple[str | None, str]:
    """(PER_USER | CLUSTER | None, reason) for one staged row (the policy in the module docstring)."""
    if row["thumbnail_kind"] != ThumbnailKind.SELECTED or row["thumbnail_frame_idx"] is None:
        return None, "not_selected"
    if guidance is not None and guidance.opt_out:
        return None, "opt_out"
    if is_explicit(guidance):
        return PER_USER, "instruction"
    if config.trigger == "all":
        return CLUSTER, "all"
    if config.trigger == "policy":
        decision = should_generate(guidance, row["score"], cover_skips, instructor)
        return (CLUSTER if decision.generate else None), decision.reason
    return None, "trigger_none"


def plan_jobs(rows: list[dict], clusters: dict[str, str], guidance: dict[str, Guidance],
              skips: dict[tuple[str, str], int], config: GenerationConfig,
              instructor: InstructorConfig) -> tuple[list[GenerationJob], Counter]:
    """Group triggered rows into jobs (sorted, so shards and re-runs plan identically); counts by reason."""
    if config.trigger not in TRIGGERS:
        raise ValueError(f"generation.trigger must be one of {', '.join(TRIGGERS)}, got {config.trigger!r}")
    jobs: dict[tuple[str, str, int], GenerationJob] = {}
    counts: Counter = Counter()
    for i, row in enumerate(rows):
        user, item = row["user_id"], row["item_id"]
        g = guidance.get(user)
        decision, reason = trigger(row, g, skips.get((user, item), 0), config, instructor)
        counts[f"trigger_{reason}"] += 1
        if decision is None:
            continue
        per_user = decision == PER_USER
        group = f"user:{user}" if per_user else clusters.get(user, COLD)
        key = (group, item, int(row["thumbnail_frame_idx"]))
        if key not in jobs:
            jobs[key] = GenerationJob(group, per_user, item, key[2], row["thumbnail_frame_ts"], row["thumbnail_staged"],
                                      tuple(g.styles) if (per_user and g is not None) else ())
        jobs[key].rows.append(i)
    return [jobs[k] for k in sorted(jobs)], counts


@dataclass
class ClipEditJob:
    """One clip edit, and the staged rows (indices) that will show it."""

    item_id: str
    source: str  # the staged clip, cut by personalise
    styles: tuple[str, ...]
    group: str | None  # taste group whose style renders it; None: the instructed styles alone
    per_user: bool  # the group is one user (its edit is named by content, never by the user)
    rows: list[int] = field(default_factory=list)


def plan_clip_edits(rows: list[dict], guidance: dict[str, Guidance], jobs: list[GenerationJob],
                    mode: str) -> list[ClipEditJob]:
    """The clip edits ``generation.edit_clips`` asks for (module docstring), sorted so re-runs plan alike."""
    if mode not in CLIP_EDIT_CHOICES:
        raise ValueError(f"generation.edit_clips must be one of {', '.join(CLIP_EDIT_CHOICES)}, got {mode!r}")
    edits: dict[tuple, ClipEditJob] = {}

    def add(i: int, styles: tuple[str, ...], group: str | None, per_user: bool) -> None:
        row = rows[i]
        key = (row["clip_staged"], styles, group or "")
        edits.setdefault(key, ClipEditJob(row["item_id"], row["clip_staged"], styles, group, per_user)).rows.append(i)

    if mode == "none":
        return []
    for i, row in enumerate(rows):
        g = guidance.get(row["user_id"])
        if row["clip_staged"] and is_explicit(g) and g.styles:
            add(i, tuple(g.styles), None, False)
    if mode == "policy":
        done = {i for edit in edits.values() for i in edit.rows}
        for job in jobs:
            for i in job.rows:
                if i not in done and rows[i]["clip_staged"]:
                    add(i, job.styles, job.group, job.per_user)
    return [edits[k] for k in sorted(edits)]


def prompt_for(base: str, styles: tuple[str, ...], palette: Palette) -> str:
    """Prompt from controlled vocabulary only (never user text): base, style fragments, palette colours."""
    parts = [base, style_prompt(styles) if styles else ""]
    colours = colour_words(palette)
    if colours:
        parts.append(" and ".join(colours) + " colour palette")
    return ", ".join(p for p in parts if p)
