"""Every dataset of the pipeline, each with one owner module: its path, schema, reader and writer.

Stages read datasets through their owners, call domain code, and write datasets through their
owners; no stage knows which stage wrote its inputs or where they live. Paths are built in one
place (``layout.Layout``, which also carries the run's storage settings). ``DATASETS`` below is
the index: the stage graph (``generec_core/stage_graph.py``) names what each stage reads and
writes from it, and the README's datasets table is generated from both.

In the spirit of Kedro's data catalog and Dagster's IO managers, without either framework.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    owner: str  # the module under generec_core/datasets/ that owns it
    path: str  # under the root; <...> are the keys
    what: str
    source: str = ""  # who writes it when no stage does (an upstream input, the demo world, ...)


INPUT = "input (upstream)"


DATASETS: dict[str, Dataset] = {
    "items": Dataset("items", "raw/items/items.jsonl (+ the video and cover files it names)",
                     "the item catalogue", INPUT),
    "items.rejected": Dataset("items", "lake/quarantine/items_manifest/rejected.jsonl",
                              "lines of items.jsonl that break the contract, with reasons"),
    "interactions.raw": Dataset("interactions", "raw/interactions/dt=<date>/*.jsonl", "one event per line", INPUT),
    "interactions.lake": Dataset("interactions", "lake/interactions/dt=<date>/",
                                 "cleaned, typed, deduplicated events (Spark)"),
    "interactions.quarantine": Dataset("interactions", "lake/quarantine/interactions/dt=<date>/",
                                       "rejected log lines, verbatim, one reason each"),
    "instructions.raw": Dataset("instructions", "raw/instructions/dt=<date>/*.jsonl",
                                "users' instructions (optional)", INPUT),
    "instructions.rejected": Dataset("instructions", "lake/quarantine/instruct/dt=<date>/rejected.jsonl",
                                     "refused or malformed instructions, scrubbed"),
    "guidance": Dataset("guidance", "features/guidance/dt=<date>/guidance.jsonl", "generation guidance per user"),
    "frames": Dataset("frames", "features/frames/encoder=<id>/sampling=<signature>/items/<item>.parquet",
                      "sampled frames: embeddings, times, quality"),
    "item_vectors": Dataset("item_vectors", "features/frames/encoder=<id>/sampling=<signature>/vectors/<item>.parquet",
                            "per item: cover embedding and unit mean of its frames (what tastes and candidates "
                            "are scored with)"),
    "frames.quarantine": Dataset("frames", "lake/quarantine/items/<item>.json", "items whose video is unusable"),
    "palettes": Dataset("palettes", "features/palettes/<version>/items/<item>.json", "cover colour palettes"),
    "users": Dataset("users", "features/users/dt=<date>/", "taste, cluster, likes per user (Spark)"),
    "thumbnail_feedback": Dataset("feedback", "features/thumbnail_feedback/dt=<date>/",
                                  "impressions and clicks per (taste cluster, thumbnail asset), from contract v2 "
                                  "logs (Spark)"),
    "taste_weights": Dataset("users", "features/taste_weights/dt=<date>/",
                             "what each (user, item) weighs in the taste, with recency (Spark)"),
    "cover_styles": Dataset("cover_styles", "features/cover_styles/<model>/items/<item>.json",
                            "cover style vectors of the neural-style network"),
    "gate_cache": Dataset("gate_cache", "features/gate_cache/<model signature>/<hh>/<pixels sha256>.npz",
                          "the gate's model outputs (embedding, P(NSFW), face boxes) per decoded image, reused "
                          "when the pixels and models are the same"),
    "worklist": Dataset("users", "work/run=<run_id>/worklist/", "(user, item) candidates with shard (Spark)"),
    "staged": Dataset("staged", "work/run=<run_id>/shard=<n>/rows.parquet, work/run=<run_id>/staged/",
                      "selected thumbnails and clips per (user, item)"),
    "generated": Dataset("generated", "work/run=<run_id>/shard=<n>/generated_rows.parquet, generated.parquet, "
                                      "work/run=<run_id>/staged/generated/, staged/edited_clips/",
                         "generated thumbnails, edited clips and lineage"),
    "created": Dataset("created", "work/run=<run_id>/created/items.parquet, work/run=<run_id>/staged/created/",
                       "the AI creator's items: video, cover, title, audience, sources"),
    "audit": Dataset("audit", "work/run=<run_id>/audit/shard=<n>/verdicts.parquet",
                     "fidelity verdict per asset, per asset shard"),
    "gate": Dataset("gate", "work/run=<run_id>/gate/", "verdict per asset, rows after fallbacks, created items "
                                                       "that passed"),
    "gate.quarantine": Dataset("gate", "lake/quarantine/assets/dt=<date>/", "assets that failed the gate"),
    "expectations": Dataset("expectations", "work/run=<run_id>/expectations/<suite>.html",
                            "data-quality validation pages"),
    "metrics": Dataset("metrics", "work/run=<run_id>/metrics/<stage>.json", "each stage's summary",
                       "every stage (pipeline.run_stage)"),
    "catalog": Dataset("catalog", "catalog/assets/<sha256>.<ext>, catalog/manifests/dt=<date>/run=<run_id>/"
                                  "manifest.parquet, catalog/created/dt=<date>/run=<run_id>/items.parquet, "
                                  "catalog/CURRENT", "what users are served; the items the creator made"),
    "evaluation": Dataset("evaluation", "work/run=<run_id>/evaluation/summary.json", "Cosine@K, planted share"),
    "truth": Dataset("truth", "demo/truth/{users,items}.jsonl, demo/simulation/dt=<date>/truth.json",
                     "labelled ground truth (demo worlds only); a simulated audience's true take rates",
                     "the demo world (generec demo)"),
    "reports": Dataset("reports", "reports/run=<run_id>/index.html, reports/attempt=<orchestrator run>/"
                                  "{index.html,failure.json,failures/<task>.json}",
                       "the run report (per date and per Airflow run); why a run failed (the failed tasks and "
                       "the DAG's failure callback)"),
}
