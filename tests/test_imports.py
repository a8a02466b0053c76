"""No import cycle inside hermes/: the dependencies between its modules flow one way.

The graph is read from the source (the AST), not from what Python happens to import first, and
every import counts: module level, inside functions, and under ``TYPE_CHECKING``. A module that
imports ``hermes.a.b`` depends on ``hermes.a.b`` only (not on the packages above it, which
Python initialises first but which are not what the module uses). One exception: a module-level
``__getattr__`` serves deprecated aliases of names that moved elsewhere; the import that finds
a moved name there is the old address, not a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hermes"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: the hermes modules it imports}`` for every ``.py`` file under ``package``."""
    files = {module_name(path, package.parent): path for path in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        aliases = [
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
        ]
        skipped = {id(node) for alias in aliases for node in ast.walk(alias)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, is_package)
                for alias in node.names:  # `from pkg import module` imports pkg.module
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_no_import_cycle_inside_hermes() -> None:
    graph = import_graph()
    assert len(graph) > 30 and "hermes.evaluation.report" in graph
    cycles = find_cycles(graph)
    assert not cycles, "modules that import each other (directly or in a loop): " + "; ".join(
        " <-> ".join(group) for group in cycles
    )


def test_plotting_and_evaluation_depend_one_way() -> None:
    graph = import_graph()
    assert "hermes.plotting" in graph["hermes.evaluation.report"]  # report.plot() draws
    assert not {t for t in graph["hermes.plotting"] if t.startswith("hermes.evaluation")}


def test_the_version_has_one_home() -> None:
    graph = import_graph()
    importers = {name for name, targets in graph.items() if "hermes" in targets}
    assert not importers, f"{sorted(importers)} import the hermes package itself"
    assert (
        "hermes.version" in graph["hermes"]
        and "hermes.version" in graph["hermes.models.checkpoint"]
    )


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        (
            {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}},
            [["a", "b", "c"], ["d", "e"]],
        ),
    ],
)
def test_the_cycle_finder_finds_loops_of_any_length(graph, cycles) -> None:
    assert find_cycles(graph) == cycles


def test_the_graph_reads_every_kind_of_import(tmp_path) -> None:
    package = tmp_path / "hermes"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from hermes.sub import mod\n")
    (package / "sub" / "__init__.py").write_text("from . import mod\n")
    (package / "sub" / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..other import thing\n"
        "def f():\n    import hermes.leaf\n"
        "def __getattr__(name):\n    from hermes.old import moved\n"
    )
    (package / "old.py").write_text("from hermes.sub.mod import f\n")
    (package / "other.py").write_text("from hermes.sub.mod import f\n")
    (package / "leaf.py").write_text("import os\n")
    graph = import_graph(package)
    assert graph == {
        "hermes": {"hermes.sub.mod"},
        "hermes.sub": {"hermes.sub.mod"},
        "hermes.sub.mod": {"hermes.other", "hermes.leaf"},
        "hermes.other": {"hermes.sub.mod"},
        "hermes.leaf": set(),
        "hermes.old": {"hermes.sub.mod"},
    }
    assert find_cycles(graph) == [["hermes.other", "hermes.sub.mod"]]
