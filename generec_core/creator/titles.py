"""A created video's title, built from the instructor's vocabulary only (never from user text).

The topics are the sources' topics that are vocabulary labels, weighted by the seconds each
source gives; the two heaviest name the video, and the styles it was rendered in follow.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from generec_core.instructor.vocabulary import STYLES, TOPICS

_TOPICS = {label.name for label in TOPICS}
_STYLES = {label.name for label in STYLES}


def title_for(topic_seconds: Iterable[tuple[Iterable[str], float]], styles: Iterable[str] = ()) -> str:
    """``[(a source's topics, its seconds)]`` -> e.g. "Cats & nature, in vintage style: a mix made for you"."""
    weight: Counter = Counter()
    for topics, seconds in topic_seconds:
        for topic in set(topics) & _TOPICS:
            weight[topic] += seconds
    top = [t for t, _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))[:2]]
    head = " & ".join(top).capitalize() if top else "Picks"
    looks = [s for s in styles if s in _STYLES]
    return f"{head}{', in ' + ' and '.join(looks) + ' style' if looks else ''}: a mix made for you"
