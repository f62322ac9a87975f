"""Synthetic interaction logs with planted tastes, and the dirt real upstream logs carry.

No public micro-video interaction log can be installed offline, so the demo plants the
signal itself: each user favours 1-2 content categories and engages with items whose
*primary* category (the one on the cover / first frame) is a favourite. Because the truth
is known, an evaluation can check that the pipeline recovers it from pixels and clicks.

Each day also gets a few malformed lines and exact duplicates, so the lake's cleaning,
quarantine and dedup run on every demo build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from generec_core.demo.sources import CATEGORY_NAMES

COLD_START_SHARE = 0.05  # users with no likes at all (cold start)
TWO_FAVOURITES_SHARE = 0.3
ACTIVE_PROB = 0.9  # chance a user shows up on a given day
IMPRESSIONS_PER_DAY = (4, 9)  # [low, high) impressions per active user-day
FAVOURITE_EXPOSURE = 0.35  # share of impressions the platform already draws from favourites

# engagement given an impression: (favourite primary category, other)
P_CLICK = (0.85, 0.08)
P_LIKE_GIVEN_CLICK = (0.7, 0.25)  # noise likes: ~2% of non-favourite impressions
P_SHARE_GIVEN_LIKE = (0.3, 0.1)
P_SKIP_IF_NOT_CLICKED = (0.3, 0.8)

DUPLICATES_PER_DAY = (1, 3)  # [low, high) exact repeats of an existing line
UNKNOWN_EVENT_TYPE = "purchase"


def user_id(u: int) -> str:
    return f"user-{u:04d}"


@dataclass(frozen=True)
class UserTaste:
    user_id: str
    favourites: tuple[str, ...]
    cold_start: bool

    def truth_row(self) -> dict:
        return {"user_id": self.user_id, "favourite_categories": list(self.favourites), "cold_start": self.cold_start}


@dataclass(frozen=True)
class LogItem:
    """What the log generator needs to know about an item."""

    item_id: str
    primary_category: str
    duration_ms: int


@dataclass(frozen=True)
class DayLog:
    date: str
    lines: tuple[str, ...]
    n_events: int  # valid, distinct events (what a correct cleaner keeps)
    n_malformed: int
    n_duplicates: int

    def to_bytes(self) -> bytes:
        return "".join(line + "\n" for line in self.lines).encode("utf-8")

    def stats(self) -> dict:
        return {"lines": len(self.lines), "events": self.n_events,
                "malformed": self.n_malformed, "duplicates": self.n_duplicates}


def plan_users(n_users: int, rng: np.random.Generator) -> list[UserTaste]:
    """Seeded tastes: 1 (sometimes 2) favourite categories; ~5% cold-start users."""
    n_cold = int(round(n_users * COLD_START_SHARE))
    cold = set(rng.permutation(n_users)[:n_cold].tolist())
    users = []
    for u in range(n_users):
        k = 2 if rng.random() < TWO_FAVOURITES_SHARE else 1
        favs = tuple(CATEGORY_NAMES[j] for j in sorted(rng.choice(len(CATEGORY_NAMES), size=k, replace=False)))
        users.append(UserTaste(user_id(u), favs, u in cold))
    return users


def _ts(date: str, second: int) -> str:
    second = min(max(second, 0), 86399)  # events never leak into the next/previous date
    return f"{date}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


def _user_day(user: UserTaste, items: list[LogItem], fav_items: list[int], date: str,
              rng: np.random.Generator) -> list[tuple[int, dict]]:
    """One user's events on one day as (second-of-day, event-without-id), in time order."""
    out: list[tuple[int, dict]] = []
    t = int(rng.integers(0, 86400 - 3600))  # session start; the session fits in the day
    for _ in range(int(rng.integers(*IMPRESSIONS_PER_DAY))):
        if fav_items and rng.random() < FAVOURITE_EXPOSURE:
            idx = fav_items[int(rng.integers(len(fav_items)))]
        else:
            idx = int(rng.integers(len(items)))
        item = items[idx]
        fav = 0 if item.primary_category in user.favourites else 1
        base = {"user_id": user.user_id, "item_id": item.item_id}
        out.append((t, {**base, "event_type": "impression"}))
        if rng.random() < P_CLICK[fav]:
            out.append((t + 1, {**base, "event_type": "click"}))
            share = rng.uniform(0.6, 1.0) if fav == 0 else rng.uniform(0.1, 0.4)
            if fav == 0 and rng.random() < 0.15:
                share += 1.0  # a replay: watch time can exceed the video's length
            watch_ms = int(item.duration_ms * share)
            t_end = t + 1 + max(1, watch_ms // 1000)
            out.append((t_end, {**base, "event_type": "watch", "watch_ms": watch_ms}))
            if not user.cold_start and rng.random() < P_LIKE_GIVEN_CLICK[fav]:
                out.append((t_end + 1, {**base, "event_type": "like"}))
                if rng.random() < P_SHARE_GIVEN_LIKE[fav]:
                    out.append((t_end + 2, {**base, "event_type": "share"}))
            t = t_end + 2
        elif rng.random() < P_SKIP_IF_NOT_CLICKED[fav]:
            out.append((t + 1, {**base, "event_type": "skip"}))
        t += int(rng.integers(3, 40))
    return out


def _line(event: dict) -> str:
    return json.dumps(event, separators=(",", ":"))


def day_log(date: str, users: list[UserTaste], items: list[LogItem], rng: np.random.Generator) -> DayLog:
    """A day's JSONL lines: the valid events ordered by time, with dirt mixed in at random places."""
    fav_items = {u.favourites: [i for i, it in enumerate(items) if it.primary_category in u.favourites]
                 for u in users}
    timed: list[tuple[int, dict]] = []
    for user in users:
        if rng.random() < ACTIVE_PROB:
            timed.extend(_user_day(user, items, fav_items[user.favourites], date, rng))
    timed.sort(key=lambda pair: pair[0])  # stable: ties keep generation order
    prefix = f"ev-{date.replace('-', '')}-"
    lines = []
    for n, (sec, ev) in enumerate(timed):
        lines.append(_line({"event_id": f"{prefix}{n:06d}", **ev, "ts": _ts(date, sec)}))
    n_valid = len(lines)

    # dirt: 3 malformed lines -- bad JSON, no user_id, unknown event_type -- with fresh
    # ids, so they are never confused with a valid event ...
    sec = int(rng.integers(0, 86400))
    some_item = items[int(rng.integers(len(items)))].item_id if items else "item-0000"
    some_user = users[int(rng.integers(len(users)))].user_id if users else "user-0000"
    full = _line({"event_id": f"{prefix}{n_valid:06d}", "user_id": some_user, "item_id": some_item,
                  "event_type": "click", "ts": _ts(date, sec)})
    malformed = [
        full[: len(full) // 2],  # cut off mid-write: not JSON
        _line({"event_id": f"{prefix}{n_valid + 1:06d}", "item_id": some_item,
               "event_type": "like", "ts": _ts(date, sec)}),  # no user_id
        _line({"event_id": f"{prefix}{n_valid + 2:06d}", "user_id": some_user, "item_id": some_item,
               "event_type": UNKNOWN_EVENT_TYPE, "ts": _ts(date, sec)}),
    ]
    # ... and exact duplicates of valid lines (an upstream retry)
    n_dup = int(rng.integers(*DUPLICATES_PER_DAY)) if n_valid else 0
    duplicates = [lines[int(j)] for j in rng.choice(n_valid, size=n_dup, replace=False)] if n_dup else []
    for extra in malformed + duplicates:
        lines.insert(int(rng.integers(0, len(lines) + 1)), extra)
    return DayLog(date, tuple(lines), n_valid, len(malformed), n_dup)
