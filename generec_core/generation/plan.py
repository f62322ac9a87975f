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

Clips (content editing, ``generation.edit_clips``): ``instruction`` (default) edits the clips of
per-user jobs (users who asked for a style) in their instructed style; ``policy`` edits those of
every job, cluster jobs in their group's taste style; ``none`` edits nothing.

Rows that trigger for the same (taste cluster, item, selected frame) share one image. Users
of one cluster mostly select the same frame, so cost stays near clusters x items instead of
users x items, and every generated image derives from the very frame its user's selection
chose (which is also what the gate falls back to). The stage reports both numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from generec_core.config import GenerationConfig, InstructorConfig
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


def edits_clips(job: GenerationJob, mode: str) -> bool:
    """Whether the job's rows get their clips edited (``generation.edit_clips``; module docstring)."""
    return mode == "policy" or (mode == "instruction" and job.per_user)


def prompt_for(base: str, styles: tuple[str, ...], palette: Palette) -> str:
    """Prompt from controlled vocabulary only (never user text): base, style fragments, palette colours."""
    parts = [base, style_prompt(styles) if styles else ""]
    colours = colour_words(palette)
    if colours:
        parts.append(" and ".join(colours) + " colour palette")
    return ", ".join(p for p in parts if p)
