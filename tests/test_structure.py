"""The code's shape: no import cycles among the project's modules (function-level imports included), plug-ins
import only the bottom floor of the harness, and no module over ~300 lines."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

PACKAGES = ("benchmark", "defenses", "attacks")
# What defenses/ and attacks/ may import from the harness: registry, configs and specs, data, models, budgets,
# checkpoint, precision and the stylizer (STYLE.md, house plan).
FLOOR = {"benchmark.registry", "benchmark.component", "benchmark.specs", "benchmark.data", "benchmark.models",
         "benchmark.budgets", "benchmark.checkpoint", "benchmark.precision", "benchmark.stylizer"}
MAX_LINES = 300


def modules() -> dict[str, ast.Module]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            out[name] = ast.parse(path.read_text(), str(path))
    return out


def imports(tree: ast.Module, name: str, known: set[str]) -> set[str]:
    """Project modules imported anywhere in ``tree`` (``from pkg import mod`` counts as ``pkg.mod``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                       for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(tree, name, known) for name, tree in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_known_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_project_modules():
    assert cycles(graph()) == []


def test_plugins_import_only_the_bottom_floor_of_the_harness():
    bad = {(m, t) for m, targets in graph().items() if m.startswith(("defenses", "attacks"))
           for t in targets if t.startswith("benchmark") and t not in FLOOR}
    assert bad == set()


def test_defenses_and_attacks_do_not_import_each_other():
    g = graph()
    assert {(m, t) for m, ts in g.items() if m.startswith("attacks") for t in ts if t.startswith("defenses")} == set()
    assert {(m, t) for m, ts in g.items() if m.startswith("defenses") for t in ts if t.startswith("attacks")} == set()


@pytest.mark.parametrize("pkg", PACKAGES)
def test_no_module_over_300_lines(pkg):
    long = {str(p.relative_to(REPO)): n for p in sorted((REPO / pkg).rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
