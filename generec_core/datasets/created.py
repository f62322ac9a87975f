"""Dataset ``created``: the items the AI creator made for a run, staged for the gate.

- ``work/run=<id>/created/items.parquet``: one ``CREATED_SCHEMA`` row per created item: its staged
  video and cover, title, duration, audience and the users it is for, its sources (item, time range,
  in playback order) and where each starts in the video, the creator and whether frames were changed;
- ``work/run=<id>/staged/created/<sha256 prefix>.mp4|.jpg``: the files, named by content.

The create stage replaces the table whole (a re-run of the date replaces that date's items); the gate
reads it, and keeps the items that pass in ``datasets.gate``. No table means the creator did not run.
"""

from __future__ import annotations

from typing import TypedDict

import pyarrow as pa

from generec_core.creator.provenance import Source
from generec_core.datasets.layout import Layout
from generec_core.storage import ObjectNotFound

SOURCE_TYPE = pa.struct([("item_id", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64())])
CREATED_SCHEMA = pa.schema([
    ("item_id", pa.string()),  # "created-" + the video's sha256 prefix
    ("video_staged", pa.string()), ("cover_staged", pa.string()),
    ("title", pa.string()), ("duration_s", pa.float64()),
    ("audience", pa.string()),  # "group:<cluster>" or "user:<user_id>"
    ("recipients", pa.list_(pa.string())),  # who is shown it
    ("sources", pa.list_(SOURCE_TYPE)),  # in playback order
    ("offsets_s", pa.list_(pa.float64())),  # where each source starts in the video
    ("score", pa.float64()),  # cosine of the audience's taste to the video's mean sampled frame
    ("generator_id", pa.string()),  # the creator (backend, version, and the editor that restyled it)
    ("edited", pa.bool_()),  # frames differ from the footage on purpose (restyled, generated): the generated bars
    ("cover_item_id", pa.string()), ("cover_ts", pa.float64()),  # the frame the cover was rendered from
    ("cover_generator_id", pa.string()),
    ("topics", pa.list_(pa.string())),  # the sources' topics
])


class CreatedItem(TypedDict):
    item_id: str
    video_staged: str
    cover_staged: str
    title: str
    duration_s: float
    audience: str
    recipients: list[str]
    sources: list[Source]
    offsets_s: list[float]
    score: float
    generator_id: str
    edited: bool
    cover_item_id: str
    cover_ts: float
    cover_generator_id: str
    topics: list[str]


def write_created(layout: Layout, run_id: str, items: list[CreatedItem]) -> None:
    layout.store.write_parquet(layout.created_items(run_id), created_table(items))


def read_created(layout: Layout, run_id: str) -> list[CreatedItem]:
    """The run's created items; none when the create stage did not run."""
    try:
        return layout.store.read_parquet(layout.created_items(run_id)).to_pylist()  # type: ignore[return-value]
    except ObjectNotFound:
        return []


def created_table(items: list[CreatedItem]) -> pa.Table:
    return pa.Table.from_pylist(sorted(items, key=lambda i: i["item_id"]), CREATED_SCHEMA)  # type: ignore[arg-type]
