"""Where every dataset lives under the root (ARCHITECTURE.md section 3): the one place a path is built.

Each method names the module that owns the dataset at that path (its schema, reader and
writer); nothing else in the library joins a path by hand, and a test checks it. A
``Layout`` also carries the run's ``Store`` (storage settings), so whoever holds a layout can
read and write what it names with the right client.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from generec_core.config import PipelineConfig
from generec_core.storage import Store, join

_PARTITION_DATE = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/")
_MANIFEST_KEY = re.compile(r"/dt=(?P<date>[^/]+)/run=(?P<run_id>[^/]+)/manifest\.parquet$")
_STAGED_ROWS_KEY = re.compile(r"/run=[^/]+/shard=(\d+)/rows\.parquet$")


def run_id_for(date: str) -> str:
    """A run is identified by its logical date: re-running a date replaces, never duplicates."""
    return f"nightly-{date}"


_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_MAX_NAME = 120


def safe_name(item_id: str) -> str:
    """An injective, portable file name for any id.

    Bytes outside ``[A-Za-z0-9._-]`` (and a leading '.') become ``~XX``: unlike '%'
    escapes, '~' survives URI unquoting, so the name is the same on disk, in a
    ``file://`` URI and as an S3 key. Long names keep a prefix plus a hash.
    """
    raw = item_id.encode("utf-8")
    name = "".join(chr(b) if b in _SAFE_BYTES and not (i == 0 and b == ord(".")) else f"~{b:02X}"
                   for i, b in enumerate(raw)) or "~"
    if len(name) > _MAX_NAME:
        name = f"{name[:100]}-{hashlib.sha256(raw).hexdigest()[:16]}"
    return name


def partition_date(uri: str) -> str | None:
    """The ``dt=YYYY-MM-DD`` partition a URI lies in, or None."""
    match = _PARTITION_DATE.search(uri)
    return match.group(1) if match else None


def manifest_key(uri: str) -> tuple[str, str] | None:
    """(date, run_id) of a manifest URI (``catalog/manifests/dt=<d>/run=<id>/manifest.parquet``), or None."""
    match = _MANIFEST_KEY.search(uri)
    return (match["date"], match["run_id"]) if match else None


def staged_rows_shard(uri: str) -> int | None:
    """The shard whose staged rows a URI holds (``work/run=<id>/shard=<n>/rows.parquet``), or None."""
    match = _STAGED_ROWS_KEY.search(uri)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Layout:
    root: str
    store: Store = field(default_factory=Store, compare=False, repr=False)

    @classmethod
    def for_config(cls, config: PipelineConfig) -> "Layout":
        return cls(config.root, Store(config.storage))

    # --- raw inputs (the input contract) -------------------------------------------------
    @property
    def items_manifest(self) -> str:
        """datasets.items"""
        return join(self.root, "raw/items/items.jsonl")

    @property
    def items_dir(self) -> str:
        """datasets.items: video and cover files, named relative to this folder in items.jsonl"""
        return join(self.root, "raw/items")

    def raw_interactions(self, date: str) -> str:
        """datasets.interactions (read by Spark)"""
        return join(self.root, f"raw/interactions/dt={date}")

    def raw_interactions_file(self, date: str, part: int) -> str:
        """datasets.interactions: one file of a day's logs as an upstream producer writes it"""
        return join(self.raw_interactions(date), f"part-{part:05d}.jsonl")

    @property
    def raw_instructions_root(self) -> str:
        """datasets.instructions"""
        return join(self.root, "raw/instructions")

    def raw_instructions(self, date: str) -> str:
        """datasets.instructions"""
        return join(self.raw_instructions_root, f"dt={date}")

    def raw_instructions_file(self, date: str, part: int) -> str:
        """datasets.instructions: one file of a day's instructions"""
        return join(self.raw_instructions(date), f"part-{part:05d}.jsonl")

    # --- lake ------------------------------------------------------------------------------
    def lake_interactions(self, date: str | None = None) -> str:
        """datasets.interactions: the cleaned lake (Spark folder per date)"""
        base = join(self.root, "lake/interactions")
        return base if date is None else join(base, f"dt={date}")

    def quarantine(self, stage: str, date: str | None = None) -> str:
        """Rejected rows and items of a stage, each with a reason (owners: the stage's datasets module)"""
        base = join(self.root, f"lake/quarantine/{stage}")
        return base if date is None else join(base, f"dt={date}")

    @property
    def rejected_items(self) -> str:
        """datasets.items: the lines of items.jsonl that break the contract, each with its reason"""
        return join(self.quarantine("items_manifest"), "rejected.jsonl")

    def quarantined_item(self, item_id: str) -> str:
        """datasets.frames: why an item's video could not be used"""
        return join(self.quarantine("items"), f"{safe_name(item_id)}.json")

    def rejected_instructions(self, date: str) -> str:
        """datasets.instructions: the date's refused or malformed instructions, scrubbed"""
        return join(self.quarantine("instruct", date), "rejected.jsonl")

    def quarantined_asset(self, date: str, sha256: str, ext: str) -> str:
        """datasets.gate: a staged asset that failed the gate, named by content (a name may be what leaked)"""
        return join(self.quarantine("assets", date), f"{sha256}.{ext}")

    def quarantined_assets_list(self, date: str) -> str:
        """datasets.gate: one line per failed asset with its reasons"""
        return join(self.quarantine("assets", date), "failed.jsonl")

    # --- features --------------------------------------------------------------------------
    def frames(self, encoder_id: str) -> str:
        """datasets.frames"""
        return join(self.root, f"features/frames/encoder={encoder_id}")

    def frame_items(self, encoder_id: str, sampling: str) -> str:
        """datasets.frames: one Parquet file per item, for one encoder and sampling signature"""
        return join(self.frames(encoder_id), f"sampling={sampling}", "items")

    def frame_item(self, encoder_id: str, sampling: str, item_id: str) -> str:
        """datasets.frames"""
        return join(self.frame_items(encoder_id, sampling), f"{safe_name(item_id)}.parquet")

    def item_vectors(self, encoder_id: str, sampling: str) -> str:
        """datasets.item_vectors: one small Parquet file per item, beside the frames of the same partition"""
        return join(self.frames(encoder_id), f"sampling={sampling}", "vectors")

    def item_vector(self, encoder_id: str, sampling: str, item_id: str) -> str:
        """datasets.item_vectors"""
        return join(self.item_vectors(encoder_id, sampling), f"{safe_name(item_id)}.parquet")

    def user_features(self, date: str) -> str:
        """datasets.users (Spark folder)"""
        return join(self.root, f"features/users/dt={date}")

    def taste_weights(self, date: str) -> str:
        """datasets.users: the weight of each (user, item) in the taste (Spark folder)"""
        return join(self.root, f"features/taste_weights/dt={date}")

    def thumbnail_feedback(self, date: str) -> str:
        """datasets.feedback: impressions and clicks per (taste cluster, thumbnail asset) (Spark folder)"""
        return join(self.root, f"features/thumbnail_feedback/dt={date}")

    def guidance(self, date: str) -> str:
        """datasets.guidance: one record per user (JSONL). A sibling of ``features/users/dt=``, not inside
        it: the Spark features job overwrites that folder, and readers take every Parquet file below it."""
        return join(self.root, f"features/guidance/dt={date}/guidance.jsonl")

    def palette(self, version: str, item_id: str) -> str:
        """datasets.palettes: an item cover's colour palette, computed once per palette version"""
        return join(self.root, f"features/palettes/{version}/items/{safe_name(item_id)}.json")

    def cover_style(self, model_id: str, item_id: str) -> str:
        """datasets.cover_styles: an item cover's style vector under a style network, computed once"""
        return join(self.root, f"features/cover_styles/{safe_name(model_id)}/items/{safe_name(item_id)}.json")

    def gate_cache_entry(self, signature: str, key: str) -> str:
        """datasets.gate_cache: the gate's model outputs for one decoded image (pixel key) under one set of models"""
        return join(self.root, f"features/gate_cache/{safe_name(signature)}/{key[:2]}/{key}.npz")

    # --- work: the run's audit zone ----------------------------------------------------------
    def work(self, run_id: str) -> str:
        """Everything a run stages before the gate audits it"""
        return join(self.root, f"work/run={run_id}")

    def worklist(self, run_id: str) -> str:
        """datasets.users: (user, item) candidates with their shard (Spark folder)"""
        return join(self.work(run_id), "worklist")

    def shard(self, run_id: str, shard: int) -> str:
        return join(self.work(run_id), f"shard={shard}")

    def staged_rows(self, run_id: str, shard: int) -> str:
        """datasets.staged: personalise's row per (user, item) of a shard"""
        return join(self.shard(run_id, shard), "rows.parquet")

    def staged_thumbnail(self, run_id: str, item_id: str, frame_idx: int) -> str:
        """datasets.staged: a selected frame (named by item and frame, never by user)"""
        return join(self.work(run_id), "staged/thumbnails", f"{safe_name(item_id)}-f{frame_idx:03d}.jpg")

    def staged_cover(self, run_id: str, item_id: str) -> str:
        """datasets.staged"""
        return join(self.work(run_id), "staged/covers", f"{safe_name(item_id)}.jpg")

    def staged_clip(self, run_id: str, item_id: str, first: int, last: int) -> str:
        """datasets.staged: one clip per (item, window of sampled frames)"""
        return join(self.work(run_id), "staged/clips", f"{safe_name(item_id)}-w{first:03d}-{last:03d}.mp4")

    def generated_rows(self, run_id: str, shard: int) -> str:
        """datasets.generated: which rows of a shard show a generated thumbnail"""
        return join(self.shard(run_id, shard), "generated_rows.parquet")

    def generated_lineage(self, run_id: str, shard: int) -> str:
        """datasets.generated: one row per generated image (model, seed, prompt, source)"""
        return join(self.shard(run_id, shard), "generated.parquet")

    def staged_generated(self, run_id: str, item_id: str, frame_idx: int, key: str) -> str:
        """datasets.generated: a generated image, keyed by its generation or its content (never a user id)"""
        return join(self.work(run_id), "staged/generated", f"{safe_name(item_id)}-f{frame_idx:03d}-{key}.jpg")

    def staged_edited_clip(self, run_id: str, item_id: str, key: str) -> str:
        """datasets.generated: a style-edited clip, keyed by its edit (clip, styles, group; never a user id)"""
        return join(self.work(run_id), "staged/edited_clips", f"{safe_name(item_id)}-{key}.mp4")

    def created_items(self, run_id: str) -> str:
        """datasets.created: one row per created item (staged files, audience, sources)"""
        return join(self.work(run_id), "created/items.parquet")

    def staged_created(self, run_id: str, key: str, ext: str) -> str:
        """datasets.created: a created video or its cover, named by content (never a user id)"""
        return join(self.work(run_id), "staged/created", f"{key}.{ext}")

    def audit(self, run_id: str) -> str:
        """datasets.audit: every asset shard's verdicts"""
        return join(self.work(run_id), "audit")

    def audit_verdicts(self, run_id: str, shard: int) -> str:
        """datasets.audit: one verdict per asset of an asset shard"""
        return join(self.audit(run_id), f"shard={shard}", "verdicts.parquet")

    def gate_results(self, run_id: str) -> str:
        """datasets.gate"""
        return join(self.work(run_id), "gate")

    def gate_verdicts(self, run_id: str) -> str:
        """datasets.gate: one verdict per staged asset"""
        return join(self.gate_results(run_id), "verdicts.parquet")

    def gate_rows(self, run_id: str) -> str:
        """datasets.gate: the rows after fallbacks, which publish turns into the manifest"""
        return join(self.gate_results(run_id), "rows.parquet")

    def gate_created(self, run_id: str) -> str:
        """datasets.gate: the created items that passed, which publish turns into the created table"""
        return join(self.gate_results(run_id), "created.parquet")

    def gate_checks(self, run_id: str) -> str:
        """datasets.gate: the manifest data checks (great-expectations digest)"""
        return join(self.gate_results(run_id), "manifest_checks.json")

    def expectations(self, run_id: str) -> str:
        """datasets.expectations: data-quality validation pages (rendered GX results) of the run"""
        return join(self.work(run_id), "expectations")

    def expectation_page(self, run_id: str, suite: str) -> str:
        """datasets.expectations"""
        return join(self.expectations(run_id), f"{suite}.html")

    def stage_metrics(self, run_id: str) -> str:
        """datasets.metrics"""
        return join(self.work(run_id), "metrics")

    def stage_metric(self, run_id: str, stage: str) -> str:
        """datasets.metrics: one stage's (or shard task's) summary"""
        return join(self.stage_metrics(run_id), f"{stage}.json")

    def evaluation(self, run_id: str) -> str:
        """datasets.evaluation"""
        return join(self.work(run_id), "evaluation/summary.json")

    def replay(self, run_id: str) -> str:
        """datasets.evaluation: the off-policy evaluation of the date's logs"""
        return join(self.work(run_id), "evaluation/replay.json")

    @property
    def runs(self) -> str:
        """Every run's audit zone (``work/run=<id>/``): where the history of replays is listed"""
        return join(self.root, "work")

    # --- catalog -----------------------------------------------------------------------------
    @property
    def catalog(self) -> str:
        """datasets.catalog: everything publish writes"""
        return join(self.root, "catalog")

    @property
    def assets(self) -> str:
        """datasets.catalog: published assets, content-addressed and immutable"""
        return join(self.catalog, "assets")

    def asset(self, sha256: str, ext: str) -> str:
        return join(self.assets, f"{sha256}.{ext}")

    @property
    def manifests(self) -> str:
        """datasets.catalog"""
        return join(self.catalog, "manifests")

    def manifest(self, date: str, run_id: str) -> str:
        """datasets.catalog: one row per (user, item) of a published run"""
        return join(self.manifests, f"dt={date}/run={run_id}/manifest.parquet")

    def published_created(self, date: str, run_id: str) -> str:
        """datasets.catalog: one row per created item of a published run"""
        return join(self.catalog, f"created/dt={date}/run={run_id}/items.parquet")

    @property
    def current(self) -> str:
        """datasets.catalog: the live manifest's pointer, swapped last"""
        return join(self.catalog, "CURRENT")

    # --- reports -----------------------------------------------------------------------------
    def report(self, run_id: str) -> str:
        """datasets.reports"""
        return join(self.root, f"reports/run={run_id}/index.html")

    def attempt_reports(self, attempt: str) -> str:
        """datasets.reports: one orchestrator run of a date (same depth as ``reports/run=<id>/``)"""
        return join(self.root, f"reports/attempt={safe_name(attempt)}")

    def attempt_report(self, attempt: str) -> str:
        """datasets.reports: the report of one orchestrator run"""
        return join(self.attempt_reports(attempt), "index.html")

    def failure_summary(self, attempt: str) -> str:
        """datasets.reports: why an orchestrator run failed, beside its report"""
        return join(self.attempt_reports(attempt), "failure.json")

    def task_failures(self, attempt: str) -> str:
        """datasets.reports: the failed tasks of an orchestrator run (their errors), read by report and summary"""
        return join(self.attempt_reports(attempt), "failures")

    def task_failure(self, attempt: str, task: str) -> str:
        """datasets.reports: one failed task of an orchestrator run"""
        return join(self.task_failures(attempt), f"{safe_name(task)}.json")

    # --- labelled truth (demo worlds) ------------------------------------------------------------
    @property
    def truth_world(self) -> str:
        """datasets.truth: the parameters a demo world was built with"""
        return join(self.root, "demo/world.json")

    @property
    def truth_users(self) -> str:
        """datasets.truth: each user's planted favourite categories"""
        return join(self.root, "demo/truth/users.jsonl")

    def simulation_truth(self, date: str) -> str:
        """datasets.truth: what the demo's simulated audience really did on a night (true take rates)"""
        return join(self.root, f"demo/simulation/dt={date}/truth.json")

    @property
    def simulation(self) -> str:
        """datasets.truth: every simulated night"""
        return join(self.root, "demo/simulation")

    @property
    def truth_items(self) -> str:
        """datasets.truth: which category is on screen when, per item"""
        return join(self.root, "demo/truth/items.jsonl")
