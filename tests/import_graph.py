"""Static facts about the source tree, read with ``ast``: imports between modules, and paths built by hand.

Shared by the architecture test (``tests/unit/test_architecture.py``) and the figures script
(``benchmarks/architecture.py``), which also runs it on an older checkout for before/after numbers.
Imports inside functions count as edges too: an import deferred to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "generec_core"
# Path fragments of the storage layout (ARCHITECTURE.md section 3): a string literal holding one of
# these, or a literal passed to ``join``, builds a dataset path by hand.
BARE_EXTENSION = re.compile(r"^\.[a-z0-9]+$")
PATH_LITERAL = re.compile(r"(^|/)(dt|run|shard|encoder|sampling)=|\.(parquet|jsonl)$"
                          r"|^(raw|lake|features|work|catalog|reports)/")


@dataclass
class Module:
    name: str
    path: Path
    imports: dict[str, bool] = field(default_factory=dict)  # imported module -> deferred (inside a function) only
    hand_built_paths: list[tuple[int, str]] = field(default_factory=list)


def module_name(tree: Path, path: Path) -> str:
    parts = list(path.relative_to(tree).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module that ``name`` is or lies inside (``pkg.mod.Class`` -> ``pkg.mod``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: Module, known: set[str]) -> None:
        self.module, self.known, self.depth = module, known, 0

    def _add(self, target: str | None) -> None:
        if target is None or target == self.module.name:
            return
        deferred = self.depth > 0
        self.module.imports[target] = self.module.imports.get(target, True) and deferred

    def visit_FunctionDef(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(_resolve(alias.name, self.known))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.name.split(".")
            if not self.module.path.name == "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        for alias in node.names:
            self._add(_resolve(f"{base}.{alias.name}", self.known) or _resolve(base, self.known))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        storage_join = (isinstance(func, ast.Name) and func.id == "join") or (
            isinstance(func, ast.Attribute) and func.attr == "join" and isinstance(func.value, ast.Name)
            and func.value.id == "storage")
        if storage_join and any(_is_literal_path(a) for a in node.args[1:]):
            self.module.hand_built_paths.append((node.lineno, ast.unparse(node)[:100]))
            return  # its literals are counted once, here
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in self.known:  # importlib.import_module("pkg.mod")
            self._add(node.value)
        if isinstance(node.value, str) and _is_path_literal(node.value):
            self.module.hand_built_paths.append((node.lineno, repr(node.value)[:100]))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        if _is_path_literal(text):
            self.module.hand_built_paths.append((node.lineno, ast.unparse(node)[:100]))

    def visit_Expr(self, node: ast.Expr) -> None:  # docstrings are prose, not paths
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)


def _is_path_literal(text: str) -> bool:
    """A layout fragment; a bare extension (a listing's suffix filter) is not a path."""
    return bool(PATH_LITERAL.search(text)) and "\n" not in text and not BARE_EXTENSION.match(text)


def _is_literal_path(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr)


def read_modules(tree: Path, packages: tuple[str, ...] = (PACKAGE,)) -> dict[str, Module]:
    """Every module of ``packages`` under ``tree``, with its imports of other modules among them."""
    paths = sorted(p for package in packages for p in (tree / package).rglob("*.py"))
    modules = {module_name(tree, p): Module(module_name(tree, p), p) for p in paths}
    known = set(modules)
    for module in modules.values():
        _Visitor(module, known).visit(ast.parse(module.path.read_text(), str(module.path)))
    return modules


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted; deferred edges count."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in modules[name].imports:
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return sorted(found)


def lines_of_code(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())
