"""The emulator's modules import one another without a cycle, and none imports the conformance suite.

A cycle is what made the old fault registry work only by import side effect (app -> faults -> the wrong
implementations -> app); the graph is read from the source, so a cycle fails here even when the import order of
the moment happens to survive it.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import qoder_emulator

PACKAGE = Path(qoder_emulator.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module name the file imports, at any depth of the file (function bodies and TYPE_CHECKING too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = {path.stem: path for path in PACKAGE.glob("*.py")}
    return {
        name: {
            imported.removeprefix("qoder_emulator.")
            for imported in _imports(path)
            if imported.removeprefix("qoder_emulator.") in modules and imported.startswith("qoder_emulator.")
        }
        - {name}
        for name, path in modules.items()
    }


def test_module_dependency_graph_is_acyclic():
    graph = _graph()
    assert {"app", "store", "faults", "rules", "misimplementations", "machine"} <= set(graph)
    assert "misimplementations" in graph["faults"] and "rules" in graph["store"]  # the graph is really read
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert set(order) == set(graph)


def test_a_cycle_would_be_found():
    graph = _graph()
    graph["machine"] = graph["machine"] | {"faults"}  # faults -> ... -> machine -> faults
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError:
        return
    raise AssertionError("a cycle through machine and faults went unnoticed")


def test_the_emulator_never_imports_the_suite():
    offenders = {
        path.name: sorted(name for name in _imports(path) if name == "conformance" or name.startswith("conformance."))
        for path in PACKAGE.glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
