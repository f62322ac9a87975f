"""The nightly pipeline's stages and their edges, as data: the one place the task graph is written down.

The pipeline (``pipeline.py``) runs a stage by name from here, the Airflow DAG builds its tasks
and dependencies from here, and the run report lists the stages from here. Each stage names the
datasets it reads and writes (``datasets.DATASETS``); the README's datasets table comes from that.

Importing this module imports no stage: the DAG file is parsed often and must stay light.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    doc: str
    upstream: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    shards: str = ""  # the fan-out (FAN_OUTS) this stage is mapped over, one task per shard; "" = one task
    accelerator: bool = False  # loads a model: runs where GPUs are (the gpu pool and queue)
    spark: bool = False  # a Spark job (spark-submit-able as jobs/<spark_job>)
    verdict: bool = False  # may fail with a data-quality verdict: fail at once, never retry
    always: bool = False  # runs whatever happened upstream (the report)
    # also runs when one of these is selected (the `stages` param): a stage split off another's work, so
    # that selecting the other (re-running `gate`) still does all of it
    runs_with: tuple[str, ...] = ()

    @property
    def per_shard(self) -> bool:
        """One task per shard of its fan-out (dynamic mapping); ``run`` takes the shard."""
        return bool(self.shards)

    @property
    def module(self) -> str:
        """The stage's module; its ``run`` function does the work."""
        return f"generec_core.stages.{self.name}"


# What a per-shard stage is mapped over: each fan-out's shards are planned by one task (``plan_task``) from
# ``pipeline.shards_to_run``. Worklist shards are the ones that hold work (users, sharded by Spark); item
# and asset shards are all of 0..n-1 (``frames.shards``, ``gate.shards``), known before the data exists.
@dataclass(frozen=True)
class FanOut:
    name: str
    plan_task: str  # the DAG task that lists the shards
    doc: str


FAN_OUTS: dict[str, FanOut] = {f.name: f for f in (
    FanOut("worklist", "plan_shards", "the worklist shards that hold work (users by identifiers.shard_of)"),
    FanOut("items", "plan_item_shards", "item shards 0..frames.shards-1 (items by identifiers.shard_of)"),
    FanOut("assets", "plan_asset_shards", "asset shards 0..gate.shards-1 (staged assets by identifiers.shard_of)"),
)}

STAGES: tuple[Stage, ...] = (
    Stage("ingest", "Spark: the date's raw logs -> typed, deduplicated lake partition; bad lines -> quarantine "
          "with a reason; then the interactions data-quality gate",
          reads=("interactions.raw", "interactions.lake"),
          writes=("interactions.lake", "interactions.quarantine", "expectations"), spark=True, verdict=True),
    Stage("instruct", "users' instructions (all up to the date) + like/skip feedback -> one guidance record per "
          "user; refused or malformed instructions -> quarantine, scrubbed", upstream=("ingest",),
          reads=("instructions.raw", "interactions.lake", "items"), writes=("guidance", "instructions.rejected")),
    Stage("frames", "decode and sample every new item's video, embed frames and cover, measure frame quality, "
          "per item shard (each writes its items' files); bad catalogue lines (shard 0) and bad videos -> "
          "quarantine; each item's vectors (cover, mean of frames), written from the frames file for items "
          "embedded before", reads=("items", "frames"),
          writes=("frames", "item_vectors", "frames.quarantine", "items.rejected"), shards="items", accelerator=True),
    Stage("features", "Spark: taste vectors, taste clusters, candidates (taste + ALS), sharded worklist; then "
          "the features data-quality gate", upstream=("ingest", "frames"),
          reads=("interactions.lake", "item_vectors"),
          writes=("users", "taste_weights", "worklist", "thumbnail_feedback", "expectations"),
          spark=True, verdict=True),
    Stage("personalise", "AI editor, per shard: the thumbnail frame and the clip each user's taste prefers",
          upstream=("instruct", "features"),
          reads=("worklist", "users", "guidance", "frames", "items", "catalog"), writes=("staged",),
          shards="worklist", accelerator=True),
    Stage("generate", "AI editor, per shard: personalised thumbnails generated from the selected frames, one "
          "per (taste group, item, frame); style-edited clips for users who asked for a style",
          upstream=("personalise",),
          reads=("staged", "users", "taste_weights", "guidance", "interactions.lake", "items", "palettes",
                 "cover_styles"),
          writes=("generated", "palettes", "cover_styles"), shards="worklist", accelerator=True),
    Stage("create", "AI creator: a new micro-video per taste group and per instructing user, made of the "
          "catalogue's best-matching segments (diverse, within duration bounds), with a cover in the audience's "
          "style, an AI mark and its provenance", upstream=("instruct", "features"),
          reads=("users", "taste_weights", "guidance", "frames", "frames.quarantine", "items", "palettes",
                 "cover_styles"),
          writes=("created", "palettes", "cover_styles"), accelerator=True),
    Stage("audit", "fidelity checks, per asset shard, on every staged, generated and created asset of the "
          "shard: one verdict per asset (the gate's model work)", upstream=("generate", "create"),
          reads=("staged", "generated", "created", "frames", "frames.quarantine", "items", "gate_cache"),
          writes=("audit", "gate_cache"), shards="assets", accelerator=True, runs_with=("gate",)),
    Stage("gate", "every audit shard's verdicts; fallbacks; halts publish below a pass-rate floor or when the "
          "manifest's data checks fail", upstream=("audit",),
          reads=("staged", "generated", "created", "audit", "users", "thumbnail_feedback"),
          writes=("gate", "gate.quarantine", "expectations"), verdict=True),
    Stage("publish", "content-addressed assets (create-only), the date's manifest and created items, then "
          "catalog/CURRENT (compare-and-swap); a dry run publishes nothing", upstream=("gate",),
          reads=("gate",), writes=("catalog",)),
    Stage("evaluate", "Cosine@K in the paper's table form, the planted-taste share where the world has "
          "labelled truth, and the off-policy replay of the date's logs (contract v2)", upstream=("publish",),
          reads=("catalog", "worklist", "frames", "users", "interactions.lake", "truth", "gate_cache"),
          writes=("evaluation",)),
    Stage("report", "the run's HTML page: an operator's overview (status, what was published, gate pass rates "
          "and top failure reasons, stage timings in run order), then data quality, gate, evaluation, generation "
          "samples (liked covers, source, result), gallery; raw metrics folded",
          upstream=("evaluate",),
          reads=("metrics", "catalog", "evaluation", "gate", "taste_weights", "items", "truth"),
          writes=("reports",), always=True),
)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def parse_stages(text: str | list[str] | None) -> list[str]:
    """``"ingest,frames"`` or a list -> validated stage names (all stages when empty)."""
    if not text:
        return list(NAMES)
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [s for s in names if s not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid stages: {', '.join(NAMES)}")
    return names
