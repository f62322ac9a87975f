"""Structure figures of a checkout: lines per package, paths built by hand, import cycles, stage coupling.

    .venv/bin/python benchmarks/architecture.py                 # this checkout
    .venv/bin/python benchmarks/architecture.py --tree ../old   # another checkout, for before/after

"Built by hand" means a storage path assembled outside the module that owns the storage layout
(``generec_core/datasets/``, or ``generec_core/layout.py`` in older trees): a ``join(...)`` with a
literal part, or a string literal holding a layout fragment (``dt=``, ``run=``, ``shard=``, ``.parquet``...).
Imports deferred into functions count as edges, so a cycle hidden that way is still reported.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from import_graph import PACKAGE, cycles, lines_of_code, read_modules  # noqa: E402

LAYOUT_OWNERS = (f"{PACKAGE}.layout", f"{PACKAGE}.datasets")
STAGES = f"{PACKAGE}.stages"
TABLE_OF_CONTENTS = {f"{PACKAGE}.pipeline", STAGES}


def _owns_layout(name: str) -> bool:
    return any(name == o or name.startswith(o + ".") for o in LAYOUT_OWNERS)


def _is_stage(name: str) -> bool:
    return name.startswith(STAGES + ".")


def figures(tree: Path) -> dict:
    modules = read_modules(tree, (PACKAGE, "jobs"))
    cyclic = cycles(modules)
    modules = {k: m for k, m in modules.items() if k.split(".")[0] == PACKAGE}
    lines: Counter = Counter()
    for top in ("jobs", "dags", "tests", "benchmarks"):
        lines[top] = sum(lines_of_code(p) for p in (tree / top).rglob("*.py"))
    for module in modules.values():
        parts = module.name.split(".")
        in_subpackage = len(parts) > 2 or (module.path.name == "__init__.py" and len(parts) > 1)
        group = parts[1] if in_subpackage else "(top-level modules)"
        lines[f"{PACKAGE}/{group}"] += lines_of_code(module.path)
    hand_built = {m.name: m.hand_built_paths for m in modules.values()
                  if m.hand_built_paths and not _owns_layout(m.name)}
    stage_to_stage = sorted((m.name, t) for m in modules.values() if _is_stage(m.name)
                            for t in m.imports if _is_stage(t))
    into_stages = sorted((m.name, t) for m in modules.values()
                         if not _is_stage(m.name) and m.name not in TABLE_OF_CONTENTS
                         for t in m.imports if _is_stage(t))
    deferred = sum(d for m in modules.values() for d in m.imports.values())
    return {"lines": dict(sorted(lines.items())), "hand_built": hand_built, "cycles": cyclic,
            "stage_to_stage": stage_to_stage, "into_stages": into_stages, "deferred_imports": deferred,
            "modules": len(modules)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--details", action="store_true", help="list every hand-built path")
    args = parser.parse_args()
    f = figures(args.tree.resolve())
    print(f"tree {args.tree}: {f['modules']} modules in {PACKAGE}")
    print("non-blank lines per package:")
    for name, n in f["lines"].items():
        print(f"  {name:40s} {n:6d}")
    print(f"  {'generec_core total':40s} {sum(n for k, n in f['lines'].items() if k.startswith(PACKAGE)):6d}")
    total = sum(len(v) for v in f["hand_built"].values())
    print(f"paths built by hand outside the layout owner: {total} in {len(f['hand_built'])} modules")
    for name, found in sorted(f["hand_built"].items()):
        print(f"  {name}: {len(found)}")
        if args.details:
            for line, text in found:
                print(f"      {line}: {text}")
    print(f"import cycles in {PACKAGE} and jobs (deferred and importlib imports included): {len(f['cycles'])}")
    for component in f["cycles"]:
        print("  " + " <-> ".join(component))
    print(f"stage modules importing stage modules: {len(f['stage_to_stage'])}")
    for a, b in f["stage_to_stage"]:
        print(f"  {a} -> {b}")
    print(f"other modules importing stage modules (pipeline excepted): {len(f['into_stages'])}")
    for a, b in f["into_stages"]:
        print(f"  {a} -> {b}")
    print(f"imports of {PACKAGE} modules made inside functions only: {f['deferred_imports']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
