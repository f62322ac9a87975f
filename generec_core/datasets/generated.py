"""Dataset ``generated``: the thumbnails and edited clips generation made for a shard, beside personalise's rows.

- ``work/run=<id>/shard=<n>/generated_rows.parquet``: which (user, item) rows show a generated
  thumbnail and/or a style-edited clip, and which generator made each (``GeneratedRow``);
- ``work/run=<id>/shard=<n>/generated.parquet``: lineage, one row per image or clip (model,
  seed, prompt, styles, source frame or clip, taste group, how many rows show it);
- ``work/run=<id>/staged/generated/<item>-f<frame>-<key>.jpg``: the images;
- ``work/run=<id>/staged/edited_clips/<item>-<key>.mp4``: the edited clips.

Personalise's staged rows are never rewritten: a re-run of generation simply replaces these two
files. ``with_generated`` lays them over the staged rows to give what each row would show if
every asset passed the gate (``ShownRow``); the gate audits that.
"""

from __future__ import annotations

from typing import TypedDict

import pyarrow as pa

from generec_core.datasets.layout import Layout
from generec_core.datasets.staged import STAGED_ROWS_SCHEMA, StagedRow, read_shard_rows, staged_shards
from generec_core.kinds import ClipKind, ThumbnailKind
from generec_core.storage import ObjectNotFound


class GeneratedRow(TypedDict):
    user_id: str
    item_id: str
    thumbnail_staged: str | None  # the generated image, if one was made for the row
    generator_id: str | None
    clip_staged: str | None  # the edited clip, if the row's clip was edited
    clip_generator_id: str | None


class ShownRow(StagedRow):
    """A staged row with generation applied: what the gate audits."""

    generator_id: str | None
    selected_staged: str | None  # generated rows: the selected frame it was made from (the gate's fallback)
    clip_kind: str | None  # a kinds.ClipKind; None without a clip
    clip_generator_id: str | None
    selected_clip_staged: str | None  # edited clips: the clip it was edited from (the gate's fallback)


GENERATED_ROWS_SCHEMA = pa.schema([("user_id", pa.string()), ("item_id", pa.string()),
                                   ("thumbnail_staged", pa.string()), ("generator_id", pa.string()),
                                   ("clip_staged", pa.string()), ("clip_generator_id", pa.string())])
SHOWN_ROWS_SCHEMA = pa.schema([*STAGED_ROWS_SCHEMA, *(pa.field(name, pa.string()) for name in (
    "generator_id", "selected_staged", "clip_kind", "clip_generator_id", "selected_clip_staged"))])
LINEAGE_SCHEMA = pa.schema([
    ("asset", pa.string()), ("asset_kind", pa.string()), ("generator_id", pa.string()), ("backend", pa.string()), ("model_id", pa.string()),
    ("seed", pa.int64()), ("strength", pa.float64()), ("steps", pa.int32()), ("guidance_scale", pa.float64()),
    ("resolution", pa.int32()), ("prompt", pa.string()), ("styles", pa.list_(pa.string())),
    ("item_id", pa.string()), ("source_frame_idx", pa.int32()), ("source_frame_ts", pa.float64()),
    ("source_staged", pa.string()), ("cluster", pa.string()), ("per_user", pa.bool_()),
    ("user_id", pa.string()), ("rows", pa.int32()), ("reused", pa.bool_()), ("date", pa.string()),
])


def lineage_uri(layout: Layout, run_id: str, shard: int) -> str:
    return layout.generated_lineage(run_id, shard)


def write_generated(layout: Layout, run_id: str, shard: int, rows: list[GeneratedRow], lineage: list[dict]) -> None:
    """Replace the shard's generation outputs (lineage first: the rows are what readers act on)."""
    layout.store.write_parquet(layout.generated_lineage(run_id, shard), pa.Table.from_pylist(lineage, LINEAGE_SCHEMA))
    layout.store.write_parquet(layout.generated_rows(run_id, shard), pa.Table.from_pylist(rows, GENERATED_ROWS_SCHEMA))


def read_generated_rows(layout: Layout, run_id: str, shard: int) -> list[GeneratedRow]:
    """The shard's generated rows; none when generation did not run for it."""
    try:
        return layout.store.read_parquet(layout.generated_rows(run_id, shard)).to_pylist()  # type: ignore[return-value]
    except ObjectNotFound:
        return []


def with_generated(staged: list[StagedRow], generated: list[GeneratedRow]) -> list[ShownRow]:
    """Each staged row with its generated thumbnail and edited clip, if any, in place of the selected ones."""
    by_pair = {(g["user_id"], g["item_id"]): g for g in generated}
    shown: list[ShownRow] = []
    for row in staged:
        out: dict = {**row, "generator_id": None, "selected_staged": None, "clip_generator_id": None,
                     "clip_kind": ClipKind.SELECTED.value if row["clip_staged"] else None,
                     "selected_clip_staged": None}
        made = by_pair.get((row["user_id"], row["item_id"]))
        if made is not None and made.get("thumbnail_staged"):
            out.update(thumbnail_kind=ThumbnailKind.GENERATED.value, thumbnail_staged=made["thumbnail_staged"],
                       generator_id=made["generator_id"], selected_staged=row["thumbnail_staged"])
        if made is not None and made.get("clip_staged") and row["clip_staged"]:
            out.update(clip_kind=ClipKind.EDITED.value, clip_staged=made["clip_staged"],
                       clip_generator_id=made["clip_generator_id"], selected_clip_staged=row["clip_staged"])
        shown.append(out)  # type: ignore[arg-type]
    return shown


def read_shown_rows(layout: Layout, run_id: str, shard: int) -> list[ShownRow]:
    """The shard's staged rows with generation applied."""
    return with_generated(read_shard_rows(layout, run_id, shard), read_generated_rows(layout, run_id, shard))


def read_all_shown_rows(layout: Layout, run_id: str) -> list[ShownRow]:
    """Every worklist shard's staged rows with generation applied, in shard order (what the gate audits)."""
    shards = staged_shards(layout, run_id)
    if not shards:
        raise FileNotFoundError(f"no staged shard outputs under {layout.work(run_id)}: did personalise run?")
    return [row for shard in shards for row in read_shown_rows(layout, run_id, shard)]
