"""Guidance the user never typed: topics inferred from their likes and skips.

The Instructor reads feedback as well as words (ARCHITECTURE.md). Here the signal is
per (user, topic), counted over distinct items in the lookback window and using the items'
optional ``topics`` (input contract): a topic the user skipped on at least
``feedback_min_skips`` distinct items and never liked is avoided; one they liked on at least
``feedback_min_likes`` distinct items is preferred. Items without topics carry no signal.

Explicit instructions always beat inferred topics (``guidance.fold``), and nothing is
inferred for users who opted out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from generec_core.config import InstructorConfig

TopicFeedback = tuple[tuple[str, ...], tuple[str, ...]]  # (prefer, avoid)


def topic_feedback(events: Iterable[tuple[str, str, str]], item_topics: dict[str, tuple[str, ...]],
                   cfg: InstructorConfig) -> dict[str, TopicFeedback]:
    """``(user_id, item_id, event_type)`` events -> user -> (preferred, avoided) topics."""
    liked: dict[str, set[str]] = defaultdict(set)
    skipped: dict[str, set[str]] = defaultdict(set)
    for user, item, kind in events:
        if kind == "like":
            liked[user].add(item)
        elif kind == "skip":
            skipped[user].add(item)
    out: dict[str, TopicFeedback] = {}
    for user in sorted(set(liked) | set(skipped)):
        likes = _per_topic(liked[user], item_topics)
        skips = _per_topic(skipped[user] - liked[user], item_topics)
        prefer = tuple(sorted(t for t, n in likes.items() if n >= cfg.feedback_min_likes))
        avoid = tuple(sorted(t for t, n in skips.items() if n >= cfg.feedback_min_skips and not likes.get(t)))
        if prefer or avoid:
            out[user] = (prefer, avoid)
    return out


def cover_skips(events: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], int]:
    """How often each user skipped each item's cover: an input of ``guidance.should_generate``."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for user, item, kind in events:
        if kind == "skip":
            counts[(user, item)] += 1
    return dict(counts)


def _per_topic(items: set[str], item_topics: dict[str, tuple[str, ...]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        for topic in item_topics.get(item, ()):
            counts[topic] += 1
    return counts
