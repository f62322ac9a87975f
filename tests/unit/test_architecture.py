"""The library's structure holds: stages only orchestrate, datasets have one owner, no import cycles.

Read statically (``tests/import_graph.py``): imports made inside functions count, so a cycle cannot
hide behind a deferred import, and neither can a stage reaching into another stage.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from import_graph import PACKAGE, cycles, read_modules

from generec_core.datasets import DATASETS
from generec_core.stage_graph import BY_NAME, FAN_OUTS, STAGES

REPO = Path(__file__).resolve().parents[2]
STAGES_PKG = f"{PACKAGE}.stages"
TABLE_OF_CONTENTS = f"{PACKAGE}.pipeline"
DOMAIN_PACKAGES = ("video", "embedding", "editor", "generation", "fidelity", "instructor", "evaluation",
                   "expectations", "spark", "catalog", "demo", "retrieval")
# The storage module's conveniences read and write with default settings: the library passes a Store instead.
DEFAULT_STORE_HELPERS = {"storage_for", "read_text", "write_text", "exists", "list_uris", "delete_prefix",
                         "write_parquet", "read_parquet", "iter_jsonl"}


@pytest.fixture(scope="module")
def modules():
    return read_modules(REPO, (PACKAGE, "jobs"))


def _is_stage(name: str) -> bool:
    return name.startswith(STAGES_PKG + ".")


def test_no_stage_imports_another_stage(modules):
    found = [(m.name, t) for m in modules.values() if _is_stage(m.name) for t in m.imports if _is_stage(t)]
    assert found == []


def test_only_the_table_of_contents_imports_stages(modules):
    found = [(m.name, t) for m in modules.values() if m.name.startswith(PACKAGE) and not _is_stage(m.name)
             and m.name not in (TABLE_OF_CONTENTS, STAGES_PKG) for t in m.imports if _is_stage(t) or t == STAGES_PKG]
    assert found == []


def test_domain_packages_never_import_stages_pipeline_or_jobs(modules):
    domain = [m for m in modules.values() if m.name.split(".")[1:2] and m.name.split(".")[1] in DOMAIN_PACKAGES]
    assert len(domain) > 40  # the walk found them
    found = [(m.name, t) for m in domain for t in m.imports
             if _is_stage(t) or t in (STAGES_PKG, TABLE_OF_CONTENTS) or t.startswith("jobs")]
    assert found == []


def test_no_import_cycles(modules):
    assert cycles(modules) == []


def test_the_cycle_finder_finds_a_deferred_cycle(tmp_path):
    """The check above could pass vacuously: prove it sees a cycle hidden inside a function."""
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from generec_core.b import thing\n")
    (pkg / "b.py").write_text("thing = 1\n\ndef later():\n    from generec_core.a import thing\n")
    assert cycles(read_modules(tmp_path)) == [[f"{PACKAGE}.a", f"{PACKAGE}.b"]]


def test_paths_are_built_only_by_the_datasets_layout(modules):
    found = {m.name: m.hand_built_paths for m in modules.values()
             if m.name.startswith(PACKAGE) and not m.name.startswith(f"{PACKAGE}.datasets") and m.hand_built_paths}
    assert found == {}


def test_the_library_reads_and_writes_through_a_store_with_the_runs_settings():
    """No module-level storage global, and no default-settings helper used inside the library."""
    offenders = []
    for path in sorted((REPO / PACKAGE).rglob("*.py")):
        if path.name == "storage.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == f"{PACKAGE}.storage":
                offenders += [f"{path.relative_to(REPO)}: {a.name}" for a in node.names if a.name in DEFAULT_STORE_HELPERS]
    assert offenders == []
    assert "def configure" not in (REPO / PACKAGE / "storage.py").read_text()


def test_the_library_never_imports_airflow():
    hits = [str(p.relative_to(REPO)) for p in (REPO / PACKAGE).rglob("*.py")
            if re.search(r"^\s*(from|import)\s+airflow", p.read_text(), re.MULTILINE)]
    assert hits == []


def test_the_stage_graph_is_consistent():
    assert [s.name for s in STAGES] == list(BY_NAME)
    for stage in STAGES:
        assert set(stage.upstream) <= set(BY_NAME), stage.name
        assert all(STAGES.index(BY_NAME[u]) < STAGES.index(stage) for u in stage.upstream), "listed in data-flow order"
        assert set(stage.reads) | set(stage.writes) <= set(DATASETS), stage.name
        assert (REPO / PACKAGE / "stages" / f"{stage.name}.py").is_file()
        assert not stage.shards or stage.shards in FAN_OUTS, stage.name
        assert set(stage.runs_with) <= set(BY_NAME), stage.name
    for name, dataset in DATASETS.items():
        assert (REPO / PACKAGE / "datasets" / f"{dataset.owner}.py").is_file(), name
        assert any(name in s.writes for s in STAGES) != bool(dataset.source), f"{name}: one writer, stage or source"


def test_every_stage_module_has_a_run_entry_point_and_nothing_imports_it_eagerly():
    for stage in STAGES:
        tree = ast.parse((REPO / PACKAGE / "stages" / f"{stage.name}.py").read_text())
        run = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run"]
        assert run, stage.name
        params = [a.arg for a in run[0].args.args]
        assert params == (["config", "date", "shard"] if stage.per_shard else ["config", "date"]), stage.name


def test_readme_datasets_table_is_generated_from_the_graph():
    """The README's table is what ``datasets_table()`` prints: regenerate it when a stage or dataset changes."""
    readme = (REPO / "README.md").read_text()
    assert datasets_table() in readme, ("README.md's datasets table is stale: "
                                        "PYTHONPATH=tests .venv/bin/python tests/unit/test_architecture.py --write-readme")


# Stages that neither embed images nor score frames: their task processes need not import torch. features
# reads frame vectors by their encoder's id, and its Spark Python workers import the module that scores them;
# generate and create load torch only for the diffusers backend, which is not the default.
WITHOUT_TORCH = ("ingest", "instruct", "features", "generate", "create", "gate", "publish", "report")


def test_stage_imports_leave_torch_and_scikit_learn_to_the_stages_that_run_them():
    """Every Airflow task is a fresh process that imports its stage. scikit-learn (~1 s) is imported only when
    k-means runs (``generation.kmeans``), and torch (~1.4 s) only by stages that embed or score, not by those
    that merely read the item frames' types (``editor.selection``)."""
    assert set(WITHOUT_TORCH) <= set(BY_NAME)
    light = [f"{STAGES_PKG}.{name}" for name in WITHOUT_TORCH]
    rest = [f"{STAGES_PKG}.{stage.name}" for stage in STAGES if stage.name not in WITHOUT_TORCH]
    probe = (f"import sys; {'; '.join(f'import {n}' for n in light)}; print('torch' in sys.modules); "
             f"{'; '.join(f'import {n}' for n in rest)}; print('sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "False"], "torch after the light stages, scikit-learn after all"


def datasets_table() -> str:
    rows = ["| dataset | what | path under the root | owner (`generec_core/datasets/`) | written by | read by |",
            "|---|---|---|---|---|---|"]
    for name, d in DATASETS.items():
        writers = ", ".join(s.name for s in STAGES if name in s.writes) or d.source
        readers = ", ".join(s.name for s in STAGES if name in s.reads) or "-"
        rows.append(f"| `{name}` | {d.what} | `{d.path}` | `{d.owner}.py` | {writers} | {readers} |")
    return "\n".join(rows)


if __name__ == "__main__":  # --write-readme: replace the README's datasets table with the current one
    readme = REPO / "README.md"
    text = readme.read_text()
    start = text.index("| dataset | what |")
    end = text.index("\n\n", start)
    if "--write-readme" in sys.argv:
        readme.write_text(text[:start] + datasets_table() + text[end:])
    print(datasets_table())

