"""The gate's decisions, apart from its I/O: what each staged asset is, fallbacks, pass rates, bias, halting.

Per asset (``audit.py``) a verdict; here, what those verdicts mean for the rows:

* generated thumbnail failed -> the selected frame it was generated from (``selected_staged``);
* selected thumbnail failed -> the item's original cover;
* edited clip failed -> the clip it was edited from (``selected_clip_staged``); clip failed -> no clip;
* a row whose cover fails too has nothing publishable to show and is dropped (counted).

The run halts before publish when a staging stage's pass rate falls below its floor
(``GateConfig``) or the manifest's data checks fail, naming the dominant failure reasons.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from generec_core.config import EditorConfig, GateConfig
from generec_core.expectations.verdict import DataQualityError
from generec_core.editor.bandit import Feedback, rank
from generec_core.editor.candidates import offered, promote, with_probabilities
from generec_core.kinds import AssetKind, ClipKind, ThumbnailKind

# A gate row's serving candidate (staged asset); publish swaps in the published URI.
STAGED_CANDIDATE_TYPE = pa.struct([("staged", pa.string()), ("kind", pa.string()), ("frame_ts", pa.float64()),
                                   ("score", pa.float64()), ("probability", pa.float64())])

STAGE_OF_KIND = {AssetKind.SELECTED: "personalise", AssetKind.COVER: "personalise", AssetKind.CLIP: "personalise",
                 AssetKind.GENERATED: "generate", AssetKind.EDITED_CLIP: "generate",
                 AssetKind.CREATED_VIDEO: "create", AssetKind.CREATED_COVER: "create"}
ACTIVITY_BUCKETS = ((0, "0 likes"), (1, "1-2 likes"), (3, "3-9 likes"), (10, "10+ likes"))


class GateFailed(DataQualityError):
    """Publishing this run would ship a bad batch: too many assets failed, or the data checks did.

    A data-quality verdict like the other gates' (the DAG fails such a task without retry).
    """


@dataclass
class AssetPlan:
    """What the shown rows say about one asset: its kind and what it must be faithful to."""

    kind: AssetKind
    item_id: str
    frame_idx: int | None = None  # the source frame (-1: the cover)
    window: tuple[float, float] | None = None  # clips: [start_s, end_s) in source time
    selected: str | None = None  # generated / edited: the staged frame or clip it was made from
    row_marked: bool = True  # generated / edited: every row showing it names its generator


def plan_assets(rows: list[dict]) -> dict[str, AssetPlan]:
    """One plan per distinct staged asset (many rows share one frame, cover or clip)."""
    plans: dict[str, AssetPlan] = {}
    marked: dict[str, bool] = defaultdict(lambda: True)
    for row in rows:
        item, idx, kind = row["item_id"], row["thumbnail_frame_idx"], row["thumbnail_kind"]
        plans.setdefault(row["cover_staged"], AssetPlan(AssetKind.COVER, item, -1))
        if kind == ThumbnailKind.GENERATED:
            selected = row.get("selected_staged")
            plans.setdefault(row["thumbnail_staged"], AssetPlan(AssetKind.GENERATED, item, idx, selected=selected))
            marked[row["thumbnail_staged"]] &= bool(row.get("generator_id"))
            if selected:
                plans.setdefault(selected, AssetPlan(AssetKind.SELECTED, item, idx))
        elif kind == ThumbnailKind.SELECTED:
            plans.setdefault(row["thumbnail_staged"], AssetPlan(AssetKind.SELECTED, item, idx))
        else:  # original: the cover itself
            plans.setdefault(row["thumbnail_staged"], AssetPlan(AssetKind.COVER, item, -1))
        for runner_up in row.get("runner_ups") or []:
            plans.setdefault(runner_up["staged"], AssetPlan(AssetKind.SELECTED, item, runner_up["frame_idx"]))
        if row["clip_staged"]:
            window = (row["clip_start_s"], row["clip_end_s"])
            source = row.get("selected_clip_staged")
            if row.get("clip_kind") == ClipKind.EDITED:
                plans.setdefault(row["clip_staged"], AssetPlan(AssetKind.EDITED_CLIP, item, window=window,
                                                               selected=source))
                marked[row["clip_staged"]] &= bool(row.get("clip_generator_id"))
            if source or row.get("clip_kind") != ClipKind.EDITED:
                plans.setdefault(source or row["clip_staged"], AssetPlan(AssetKind.CLIP, item, window=window))
    for asset, ok in marked.items():
        plans[asset].row_marked = ok
    return plans


def apply_fallbacks(rows: pa.Table, verdicts: Mapping[str, dict], editor: EditorConfig,
                    feedback: Feedback | None = None) -> pa.Table:
    """Failed generated -> its selected frame; failed selected -> the cover; failed edited clip -> its
    source clip; failed clip -> none; a failed runner-up is simply not offered.

    Every fallback is written into the row (``fallback``: which asset failed and why). Then the row's
    serving candidates, all gated, ranked by the bandit on ``feedback`` when there is any (the first is shown:
    ``editor.bandit``), with their probabilities (``editor.candidates``).
    """
    def passed(asset: str | None) -> bool:
        return bool(asset) and verdicts.get(asset, {}).get("passed", False)

    def reasons(asset: str | None) -> str:
        return "; ".join(verdicts.get(asset, {}).get("reasons") or ["not audited"])

    out = []
    for row in rows.to_pylist():
        notes: list[str] = []
        if row["thumbnail_kind"] == ThumbnailKind.GENERATED and not passed(row["thumbnail_staged"]):
            notes.append("generated thumbnail failed gate: " + reasons(row["thumbnail_staged"]))
            row.update(thumbnail_kind=ThumbnailKind.SELECTED.value, thumbnail_staged=row.get("selected_staged"),
                       generator_id=None)
        cover_ok = passed(row["cover_staged"])
        if row["thumbnail_kind"] != ThumbnailKind.ORIGINAL and not passed(row["thumbnail_staged"]):
            if not cover_ok:
                continue
            notes.append("thumbnail failed gate: " + reasons(row["thumbnail_staged"]))
            row.update(thumbnail_kind=ThumbnailKind.ORIGINAL.value, thumbnail_staged=row["cover_staged"],
                       thumbnail_frame_idx=None, thumbnail_frame_ts=None, score=None, generator_id=None)
        if not cover_ok:
            if row["thumbnail_kind"] == ThumbnailKind.ORIGINAL:
                continue
            row["cover_staged"] = None
        if row.get("clip_kind") == ClipKind.EDITED and not passed(row["clip_staged"]):
            notes.append("edited clip failed gate: " + reasons(row["clip_staged"]))
            row.update(clip_kind=ClipKind.SELECTED.value, clip_staged=row.get("selected_clip_staged"),
                       clip_generator_id=None)
        if row["clip_staged"] and not passed(row["clip_staged"]):
            notes.append("clip failed gate: " + reasons(row["clip_staged"]))
            row.update(clip_staged=None, clip_start_s=None, clip_end_s=None, clip_score=None, clip_kind=None,
                       clip_generator_id=None)
        row["fallback"] = " | ".join(notes) or None
        row["runner_ups"] = [r for r in row.get("runner_ups") or [] if passed(r["staged"])]
        row["candidates"] = _ranked_candidates(row, editor, feedback)
        out.append(row)
    schema = rows.schema
    for name, dtype in (("generator_id", pa.string()), ("clip_kind", pa.string()), ("clip_generator_id", pa.string()),
                        ("fallback", pa.string()), ("candidates", pa.list_(STAGED_CANDIDATE_TYPE))):
        if schema.get_field_index(name) < 0:
            schema = schema.append(pa.field(name, dtype))
    return pa.Table.from_pylist(out, schema)


CREATOR_RETRIEVER = "creator"


def _ranked_candidates(row: dict, editor: EditorConfig, feedback: Feedback | None) -> list[dict]:
    offers = offered(row)
    if feedback is not None and len(offers) > 1:
        evidence = feedback.evidence(row["user_id"])
        offers = rank([{**o, "asset": feedback.assets.get(o["staged"])} for o in offers], evidence, editor,
                      feedback.base_rate(row["user_id"], editor))
        if offers[0]["staged"] != row["thumbnail_staged"]:
            promote(row, offers[0])
    return with_probabilities(offers, editor.exploration)


def created_rows(items: list[dict], schema: pa.Schema, encoder_id: str | None) -> pa.Table:
    """One gate row per (recipient, created item that passed): its cover as the thumbnail and the item's cover,
    its video as the clip; publish turns them into manifest rows like any other."""
    rows = [{"user_id": user, "item_id": item["item_id"], "shard": None, "retriever": CREATOR_RETRIEVER,
             "is_cold": False, "thumbnail_kind": ThumbnailKind.CREATED.value, "thumbnail_staged": item["cover_staged"],
             "cover_staged": item["cover_staged"], "thumbnail_frame_idx": None, "thumbnail_frame_ts": None,
             "score": item["score"], "clip_staged": item["video_staged"], "clip_start_s": 0.0,
             "clip_end_s": item["duration_s"], "clip_score": None, "encoder_id": encoder_id,
             "generator_id": item["generator_id"], "selected_staged": None, "clip_kind": ClipKind.CREATED.value,
             "clip_generator_id": item["generator_id"], "selected_clip_staged": None, "fallback": None,
             "runner_ups": [], "cover_score": None,
             "candidates": [{"staged": item["cover_staged"], "kind": ThumbnailKind.CREATED.value, "frame_ts": None,
                             "score": item["score"], "probability": 1.0}]}
            for item in items for user in item["recipients"]]
    return pa.Table.from_pylist(rows, schema)


def created_summary(items: list[dict], passed: list[dict], verdicts: Mapping[str, dict]) -> dict:
    """How many created items passed, and why the others did not (their video's and cover's reasons)."""
    reasons = Counter(r for i in items for a in (i["video_staged"], i["cover_staged"])
                      for r in verdicts.get(a, {}).get("reasons", []))
    return {"items": len(items), "passed": len(passed), "pass_rate": _rate(len(passed), len(items)),
            "recipients": sum(len(i["recipients"]) for i in passed), "failure_reasons": dict(reasons.most_common(5))}


def activity_bucket(n_likes: int | None) -> str:
    if n_likes is None:
        return "unknown"
    return [name for low, name in ACTIVITY_BUCKETS if n_likes >= low][-1]


def user_groups(features: pa.Table | None) -> dict[str, tuple[str, str]]:
    """user -> (taste cluster, activity bucket) from the date's user features (none: everyone unknown)."""
    if features is None:
        return {}
    users = features["user_id"].to_pylist()
    clusters = (features["cluster"].to_pylist() if "cluster" in features.column_names else ["all"] * len(users))
    likes = features["n_likes"].to_pylist() if "n_likes" in features.column_names else [None] * len(users)
    return {u: ("all" if c is None else str(c), activity_bucket(n)) for u, c, n in zip(users, clusters, likes)}


def bias_report(staged: pa.Table, final: pa.Table, groups: dict[str, tuple[str, str]]) -> dict:
    """Per taste cluster and per activity bucket: rows, and the share shown as personalised (no fallback).

    A dropped row or a row with any fallback counts as not passed, so a gate that rejects one
    group's assets far more often than another's shows up as a gap.
    """
    clean = {(u, i) for u, i, f in zip(final["user_id"].to_pylist(), final["item_id"].to_pylist(),
                                        final["fallback"].to_pylist()) if f is None}
    out: dict[str, dict] = {}
    for axis, pick in (("cluster", 0), ("activity", 1)):
        totals: Counter = Counter()
        ok: Counter = Counter()
        for user, item in zip(staged["user_id"].to_pylist(), staged["item_id"].to_pylist()):
            group = groups.get(user, ("all", "unknown"))[pick]
            totals[group] += 1
            ok[group] += (user, item) in clean
        rates = {g: {"rows": n, "pass_rate": round(ok[g] / n, 4)} for g, n in sorted(totals.items())}
        values = [r["pass_rate"] for r in rates.values()]
        out[axis] = {"groups": rates, "gap": round(max(values) - min(values), 4) if values else 0.0}
    return out


def _rate(passed: int, total: int) -> float | None:
    return round(passed / total, 4) if total else None


def summarise(gate: GateConfig, verdicts: Mapping[str, dict], final: pa.Table, data_checks: dict, bias: dict) -> dict:
    """Pass rates per staging stage, kind and check, the dominant reasons, and the data checks."""
    by_stage: dict[str, dict] = {}
    for stage, floor in (("personalise", gate.min_pass_rate), ("generate", gate.min_pass_rate_generated),
                         ("create", gate.min_pass_rate_created)):
        mine = [v["passed"] for v in verdicts.values() if STAGE_OF_KIND[v["kind"]] == stage]
        by_stage[stage] = {"assets": len(mine), "passed": sum(mine), "pass_rate": _rate(sum(mine), len(mine)),
                           "floor": floor}
    failed_checks = Counter(c["name"] for v in verdicts.values() for c in v["checks"] if not c["passed"])
    reasons = Counter(r for v in verdicts.values() for r in v["reasons"])
    by_kind = Counter((str(v["kind"]), v["passed"]) for v in verdicts.values())
    repurposed, generated = by_stage["personalise"], by_stage["generate"]
    return {
        # the repurposed assets' rate is the headline: a failed generated asset has an audited fallback
        "assets": repurposed["assets"], "passed": repurposed["passed"],
        "failed": repurposed["assets"] - repurposed["passed"],
        "pass_rate": repurposed["pass_rate"] if repurposed["assets"] else 1.0, "floor": gate.min_pass_rate,
        "generated": {k: generated[k] for k in ("assets", "passed", "pass_rate")},
        "by_stage": by_stage,
        "by_kind": {f"{k}:{'pass' if p else 'fail'}": n for (k, p), n in sorted(by_kind.items())},
        "failed_checks": dict(sorted(failed_checks.items())),
        "failure_reasons": dict(reasons.most_common(5)),
        "rows": final.num_rows,
        "rows_with_fallback": int(pc.sum(pc.is_valid(final["fallback"])).as_py() or 0),
        "manifest_checks": {"success": data_checks["success"], "evaluated": data_checks["evaluated"],
                            "failed": [r["name"] + ": " + r["observed"] for r in data_checks["results"]
                                       if not r["success"]]},
        "bias": bias,
    }


def halt_if_bad(summary: dict, date: str, page: str) -> None:
    """Raise ``GateFailed`` (carrying the summary) when a pass rate is below its floor or the data checks failed."""
    problems = []
    for stage, s in summary["by_stage"].items():
        if s["assets"] and s["pass_rate"] < s["floor"]:
            problems.append(f"{stage} pass rate {s['pass_rate']:.3f} below floor {s['floor']}")
    if not summary["manifest_checks"]["success"]:
        problems.append("manifest data checks failed: " + "; ".join(summary["manifest_checks"]["failed"]))
    if problems:
        problems.append(f"dominant failure reasons: {summary['failure_reasons']}")
        raise GateFailed({"gate": "fidelity", "dt": date, "success": False, "critical_failures": problems,
                          "warnings": [], "skipped": [], "suites": [], "pages": [page]}, summary)
