"""The house rules of docs/architecture.md, checked on the source: imports run one way with no
cycle, ``segkit/models`` stays free of the rest of segkit, files stay small (or say why not), and
each command-line module is a screenful."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import REPO

SEGKIT = REPO / "segkit"
LONG = 300  # lines; a longer module states why at its top ("Over ~300 lines ...")
CLI_LINES = 100
# what segkit/models may import from segkit besides itself: the leaves every layer uses
MODELS_MAY_IMPORT = {"segkit.errors", "segkit.options"}


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module -> the segkit modules it imports (anywhere in it, inside functions too)."""
    modules = {_module(p): p for p in SEGKIT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("segkit")
            ):
                for target in (node.module, *(f"{node.module}.{a.name}" for a in node.names)):
                    if target in modules and target != name:
                        found.add(target)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name in modules and a.name != name}
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_no_import_cycle() -> None:
    assert cycles(imports()) == []


def test_a_cycle_is_found() -> None:
    """The walk itself can fail: a made-up back edge is reported."""
    graph = {**imports(), "segkit.options": {"segkit.errors", "segkit.training.checks"}}
    assert any("segkit.training.checks" in c for c in cycles(graph))


def test_models_import_only_models_and_leaves() -> None:
    for name, targets in imports().items():
        if name.startswith("segkit.models"):
            outside = {t for t in targets if not t.startswith("segkit.models")} - MODELS_MAY_IMPORT
            assert not outside, f"{name} imports {sorted(outside)}"


@pytest.mark.parametrize(
    "path", sorted(SEGKIT.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO))
)
def test_module_is_small_or_says_why(path: Path) -> None:
    text = path.read_text()
    lines = text.count("\n")
    if path.parent.name == "cli":
        assert lines <= CLI_LINES, f"{path.name}: {lines} lines; a command only parses and calls"
    elif lines > LONG:
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert "Over ~300 lines" in doc or "over ~300 lines" in doc, (
            f"{lines} lines, no reason given"
        )
