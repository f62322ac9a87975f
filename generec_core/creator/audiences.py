"""Who a created video is for: taste groups with enough members, and users whose instructions ask for it.

A taste group is a cluster of warm users (the features stage's k-means over tastes); its taste is
the unit mean of its members' tastes, so every member counts alike. A group's video leaves out
topics that at least ``group_avoid_share`` of its members avoid; a member who avoids a topic the
finished video shows is not shown it (``recipients``). Users who opted out of personalisation get
no created item. A user whose own instruction asks for topics or styles gets a video of their own
(at most ``max_personal`` a night, a stable sample by user-id hash): made from items on those topics
when the catalogue has enough of them, in the styles asked for.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pyarrow as pa

from generec_core.config import CreatorConfig
from generec_core.creator.segments import unit
from generec_core.instructor.guidance import Guidance

GROUP_PREFIX, USER_PREFIX = "group:", "user:"


@dataclass(frozen=True)
class Audience:
    audience: str  # "group:<cluster>" or "user:<user_id>": the catalog's ``audience``
    members: tuple[str, ...]  # the users it is made for
    taste: np.ndarray  # unit vector
    prefer_topics: frozenset[str] = frozenset()
    avoid_topics: frozenset[str] = frozenset()
    styles: tuple[str, ...] = ()

    @property
    def personal(self) -> bool:
        return self.audience.startswith(USER_PREFIX)


def plan_audiences(features: pa.Table, guidance: Mapping[str, Guidance], cfg: CreatorConfig) -> list[Audience]:
    """Tonight's audiences: taste groups (by cluster label), then the instructing users, in a stable order."""
    users = features.select(["user_id", "taste", "is_cold", "cluster"]).to_pylist()
    opted_out = {u for u, g in guidance.items() if g.opt_out}
    tastes = {u["user_id"]: np.asarray(u["taste"], np.float32) for u in users}
    return [*_groups(users, tastes, opted_out, guidance, cfg), *_personal(tastes, guidance, cfg)]


def _groups(users: list[dict], tastes: dict[str, np.ndarray], opted_out: set[str],
            guidance: Mapping[str, Guidance], cfg: CreatorConfig) -> list[Audience]:
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for u in users:
        if not u["is_cold"] and u["cluster"] is not None and u["user_id"] not in opted_out:
            by_cluster[str(u["cluster"])].append(u["user_id"])
    out = []
    for label, members in sorted(by_cluster.items()):
        if len(members) < cfg.min_group_members:
            continue
        members.sort()
        avoided = Counter(t for m in members if m in guidance for t in guidance[m].avoid_topics)
        avoid = frozenset(t for t, n in avoided.items() if n >= cfg.group_avoid_share * len(members))
        out.append(Audience(GROUP_PREFIX + label, tuple(members), unit(np.mean([tastes[m] for m in members], 0)),
                            avoid_topics=avoid))
    return out


def _personal(tastes: dict[str, np.ndarray], guidance: Mapping[str, Guidance], cfg: CreatorConfig) -> list[Audience]:
    asking = [u for u, g in guidance.items() if g.source == "instruction" and not g.opt_out
              and (g.prefer_topics or g.styles) and u in tastes]
    chosen = sorted(asking, key=lambda u: hashlib.sha256(u.encode("utf-8")).hexdigest())[:cfg.max_personal]
    return [Audience(USER_PREFIX + u, (u,), unit(tastes[u]), frozenset(guidance[u].prefer_topics),
                     frozenset(guidance[u].avoid_topics), tuple(guidance[u].styles)) for u in sorted(chosen)]


def recipients(audience: Audience, topics: frozenset[str], guidance: Mapping[str, Guidance]) -> list[str]:
    """The members who are shown a video on ``topics``: not those who avoid one of them."""
    return [m for m in audience.members if m not in guidance or not (set(guidance[m].avoid_topics) & topics)]
