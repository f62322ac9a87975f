"""The editor's side of the instructor's guidance: avoided topics, opt-outs and clip length bounds.

Dropping avoided pairs happens here, at the editor, rather than in candidate generation, so
an avoided item is never promoted whatever produced the candidate list; the user gets fewer
than top-K personalised items that night rather than one they asked not to see.
"""

from __future__ import annotations

from typing import Mapping

import pyarrow as pa

from generec_core.editor.clip_length import ClipBounds
from generec_core.instructor.guidance import Guidance


def apply_guidance(worklist: pa.Table, guidance: Mapping[str, Guidance],
                   topics: Mapping[str, tuple[str, ...]]) -> tuple[pa.Table, set[str], int]:
    """(worklist without the pairs whose item topics the user avoids, users who opted out, pairs dropped)."""
    if not guidance or worklist.num_rows == 0:
        return worklist, set(), 0
    opted_out = {u for u, g in guidance.items() if g.opt_out}
    avoid = {u: set(g.avoid_topics) for u, g in guidance.items() if g.avoid_topics}
    keep = [not (avoid.get(u, set()) & set(topics.get(i, ())))
            for u, i in zip(worklist.column("user_id").to_pylist(), worklist.column("item_id").to_pylist())]
    dropped = keep.count(False)
    return (worklist.filter(pa.array(keep, pa.bool_())) if dropped else worklist), opted_out, dropped


def user_clip_bounds(guidance: Mapping[str, Guidance], users: set[str]) -> dict[str, ClipBounds]:
    """Per-user clip length bounds (``clip_seconds``); users without them, or opted out, get the config's."""
    return {u: ClipBounds.from_guidance(g.clip_seconds) for u, g in guidance.items()
            if u in users and g.clip_seconds and not g.opt_out}
