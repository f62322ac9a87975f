"""Where every dataset lives under the root (ARCHITECTURE.md section 3), named once.

Stages ask this module for URIs instead of formatting paths themselves, so the storage
layout can be read (and changed) in one screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from generec_core.storage import join


def run_id_for(date: str) -> str:
    """A run is identified by its logical date: re-running a date replaces, never duplicates."""
    return f"nightly-{date}"


@dataclass(frozen=True)
class Layout:
    root: str

    # raw inputs (the input contract)
    @property
    def items_manifest(self) -> str:
        return join(self.root, "raw/items/items.jsonl")

    @property
    def items_dir(self) -> str:
        return join(self.root, "raw/items")

    def raw_interactions(self, date: str) -> str:
        return join(self.root, f"raw/interactions/dt={date}")

    def raw_instructions(self, date: str) -> str:
        return join(self.root, f"raw/instructions/dt={date}")

    @property
    def raw_instructions_root(self) -> str:
        return join(self.root, "raw/instructions")

    # lake
    def lake_interactions(self, date: str | None = None) -> str:
        base = join(self.root, "lake/interactions")
        return base if date is None else join(base, f"dt={date}")

    def quarantine(self, stage: str, date: str | None = None) -> str:
        base = join(self.root, f"lake/quarantine/{stage}")
        return base if date is None else join(base, f"dt={date}")

    # features
    def frames(self, encoder_id: str) -> str:
        return join(self.root, f"features/frames/encoder={encoder_id}")

    def user_features(self, date: str) -> str:
        return join(self.root, f"features/users/dt={date}")

    def palettes(self, version: str) -> str:
        """Colour palettes of item covers (generation's taste palettes), computed once per item."""
        return join(self.root, f"features/palettes/{version}")

    def guidance(self, date: str) -> str:
        """One guidance record per user (JSONL). A sibling of ``features/users/dt=``, not inside it:
        the Spark features job overwrites that folder, and readers take every Parquet file below it."""
        return join(self.root, f"features/guidance/dt={date}/guidance.jsonl")

    # work (audit zone)
    def work(self, run_id: str) -> str:
        return join(self.root, f"work/run={run_id}")

    def worklist(self, run_id: str) -> str:
        return join(self.work(run_id), "worklist")

    def shard(self, run_id: str, shard: int) -> str:
        return join(self.work(run_id), f"shard={shard}")

    def gate_results(self, run_id: str) -> str:
        return join(self.work(run_id), "gate")

    def gate_rows(self, run_id: str) -> str:
        """The gate's verdict per row: what publish publishes (named here so publish needs no gate import)."""
        return join(self.gate_results(run_id), "rows.parquet")

    def expectations(self, run_id: str) -> str:
        """Data-quality validation results (rendered GX pages) of the run."""
        return join(self.work(run_id), "expectations")

    def stage_metrics(self, run_id: str) -> str:
        return join(self.work(run_id), "metrics")

    # catalog
    @property
    def assets(self) -> str:
        return join(self.root, "catalog/assets")

    def asset(self, sha256: str, ext: str) -> str:
        return join(self.assets, f"{sha256}.{ext}")

    @property
    def manifests(self) -> str:
        return join(self.root, "catalog/manifests")

    def manifest(self, date: str, run_id: str) -> str:
        return join(self.manifests, f"dt={date}/run={run_id}/manifest.parquet")

    @property
    def current(self) -> str:
        return join(self.root, "catalog/CURRENT")

    # reports
    def report(self, run_id: str) -> str:
        return join(self.root, f"reports/run={run_id}/index.html")
