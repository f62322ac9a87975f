"""Data checks on the manifest-to-be, with great-expectations, before anything is published.

The gate's output rows are exactly what ``publish`` turns into the manifest (one row each,
staged URIs swapped for content-addressed ones), so validating them is validating the
manifest before it exists. Per-asset content checks decide fallbacks; this suite checks the
*data* invariants that must hold afterwards, so a bug in the fallback logic (or an upstream
stage writing inconsistent lineage) halts publish instead of reaching users:

* every row points to assets that passed the content checks (thumbnail, cover, clip);
* one row per (user_id, item_id); scores in range; no NaN anywhere;
* ``thumbnail_kind`` consistent with lineage: generated <=> ``generator_id``; a selected or
  generated thumbnail has its frame time and score; an original one is the item's cover and
  has neither; a clip has an ordered window;
* ``clip_kind`` consistent with the clip: set exactly when there is a clip; edited <=>
  ``clip_generator_id``;
* created items' rows (the AI creator's): named by their creator, their video as a created clip;
* serving candidates: the shown thumbnail first, every one gated and passed, probabilities > 0 that
  sum to 1.

GX has no "not NaN" expectation distinct from null, so NaNs are counted per row beforehand
(``n_nan``) and GX judges the count, as the features suites do for taste vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generec_core.kinds import ClipKind, ThumbnailKind

SUITE = "gate_manifest"
SELECTED, GENERATED, ORIGINAL, CREATED = (k.value for k in (ThumbnailKind.SELECTED, ThumbnailKind.GENERATED,
                                                            ThumbnailKind.ORIGINAL, ThumbnailKind.CREATED))
FLOAT_COLUMNS = ("score", "clip_score", "thumbnail_frame_ts", "clip_start_s", "clip_end_s")


def manifest_frame(rows: pa.Table, passed: dict[str, bool]):
    """The pandas batch GX validates: the rows' checked columns plus per-row derived facts."""
    def looked_up(column: str) -> list[bool | None]:
        return [None if a is None else passed.get(a, False) for a in rows[column].to_pylist()]

    n_nan = np.zeros(rows.num_rows, dtype=np.int64)
    for name in FLOAT_COLUMNS:
        if name in rows.column_names:
            n_nan += pc.fill_null(pc.is_nan(rows[name]), False).to_numpy(zero_copy_only=False).astype(np.int64)
    def optional(column: str) -> list:
        return rows[column].to_pylist() if column in rows.column_names else [None] * rows.num_rows

    frame = rows.select(["user_id", "item_id", "thumbnail_kind", *FLOAT_COLUMNS]).to_pandas()
    for column in ("generator_id", "clip_kind", "clip_generator_id"):
        frame[column] = optional(column)
    frame["thumbnail_passed"] = looked_up("thumbnail_staged")
    frame["cover_passed"] = looked_up("cover_staged")
    frame["clip_passed"] = looked_up("clip_staged")
    frame["has_clip"] = [c is not None for c in rows["clip_staged"].to_pylist()]
    frame["thumbnail_is_cover"] = [t == c for t, c in zip(rows["thumbnail_staged"].to_pylist(),
                                                           rows["cover_staged"].to_pylist())]
    frame["n_nan"] = n_nan
    offered = optional("candidates")
    frame["candidates_first_shown"] = [not c or c[0]["staged"] == t
                                       for c, t in zip(offered, rows["thumbnail_staged"].to_pylist())]
    frame["candidates_passed"] = [all(passed.get(x["staged"], False) for x in c or []) for c in offered]
    frame["candidates_probabilities"] = [not c or (abs(sum(x["probability"] for x in c) - 1.0) <= 1e-9
                                                   and all(x["probability"] > 0 for x in c)) for c in offered]
    return frame


def manifest_suite():
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    kind = Column("thumbnail_kind")
    personalised = kind.is_in([SELECTED, GENERATED])
    clip = Column("has_clip") == True  # noqa: E712 - a GX condition, not a Python comparison
    no_clip = Column("has_clip") == False  # noqa: E712
    clip_kind = Column("clip_kind")

    def guard(text: str) -> dict:
        return {"guards": text}

    return gx.ExpectationSuite(name=SUITE, expectations=[
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, meta=guard("not-null keys"))
          for c in ("user_id", "item_id", "thumbnail_kind", "thumbnail_passed")],
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "item_id"], meta=guard("one row per pair")),
        *[gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[True], meta=guard("every asset passed the gate"))
          for c in ("thumbnail_passed", "cover_passed", "clip_passed")],
        gxe.ExpectColumnValuesToBeInSet(column="n_nan", value_set=[0], meta=guard("no NaN")),
        gxe.ExpectColumnValuesToBeInSet(column="candidates_first_shown", value_set=[True],
                                        meta=guard("the shown thumbnail is the first candidate")),
        gxe.ExpectColumnValuesToBeInSet(column="candidates_passed", value_set=[True],
                                        meta=guard("every candidate passed the gate")),
        gxe.ExpectColumnValuesToBeInSet(column="candidates_probabilities", value_set=[True],
                                        meta=guard("candidate probabilities are positive and sum to 1")),
        *[gxe.ExpectColumnValuesToBeBetween(column=c, min_value=-1.0, max_value=1.0, meta=guard("cosine in [-1, 1]"))
          for c in ("score", "clip_score")],
        *[gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0.0, meta=guard("non-negative times"))
          for c in ("thumbnail_frame_ts", "clip_start_s")],
        gxe.ExpectColumnValuesToBeInSet(column="thumbnail_kind", value_set=[k.value for k in ThumbnailKind],
                                        meta=guard("known kinds")),
        gxe.ExpectColumnValuesToNotBeNull(column="generator_id", row_condition=kind == GENERATED,
                                          meta=guard("generated rows name their generator")),
        gxe.ExpectColumnValuesToBeNull(column="generator_id", row_condition=kind.is_in([SELECTED, ORIGINAL]),
                                       meta=guard("only generated rows name a generator")),
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, row_condition=personalised,
                                            meta=guard("personalised rows carry their frame and score"))
          for c in ("thumbnail_frame_ts", "score")],
        *[gxe.ExpectColumnValuesToBeNull(column=c, row_condition=kind == ORIGINAL,
                                         meta=guard("original rows carry no frame or score"))
          for c in ("thumbnail_frame_ts", "score")],
        gxe.ExpectColumnValuesToBeInSet(column="thumbnail_is_cover", value_set=[True], row_condition=kind == ORIGINAL,
                                        meta=guard("an original thumbnail is the item's cover")),
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, row_condition=clip, meta=guard("a clip has its window"))
          for c in ("clip_start_s", "clip_end_s")],
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="clip_end_s", column_B="clip_start_s",
                                                    ignore_row_if="either_value_is_missing",
                                                    meta=guard("clip windows are ordered")),
        gxe.ExpectColumnValuesToBeInSet(column="clip_kind", value_set=[k.value for k in ClipKind],
                                        meta=guard("known clip kinds")),
        gxe.ExpectColumnValuesToNotBeNull(column="clip_kind", row_condition=clip, meta=guard("a clip has its kind")),
        gxe.ExpectColumnValuesToBeNull(column="clip_kind", row_condition=no_clip,
                                       meta=guard("no clip, no clip kind")),
        gxe.ExpectColumnValuesToNotBeNull(column="clip_generator_id", row_condition=clip_kind.is_in(
            [ClipKind.EDITED.value, ClipKind.CREATED.value]), meta=guard("edited and created clips name their generator")),
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, row_condition=kind == CREATED,
                                            meta=guard("created items name their creator and carry their video"))
          for c in ("generator_id", "score", "clip_kind")],
        gxe.ExpectColumnValuesToBeInSet(column="clip_kind", value_set=[ClipKind.CREATED.value],
                                        row_condition=kind == CREATED, meta=guard("a created item's clip is its video")),
        gxe.ExpectColumnValuesToBeNull(column="clip_generator_id", row_condition=no_clip | (clip_kind ==
                                                                                           ClipKind.SELECTED.value),
                                       meta=guard("only edited clips name a generator")),
    ])


def validate_manifest(rows: pa.Table, passed: dict[str, bool], run_name: str) -> tuple[dict, Any]:
    """(JSON-able summary, GX validation result) of the manifest suite on the gate's rows."""
    from generec_core.expectations.runner import summarise, validate

    result = validate(manifest_suite(), manifest_frame(rows, passed), run_name)
    return summarise(SUITE, result), result
