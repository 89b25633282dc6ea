"""The chain's architecture: every chains module imports alone, no import cycle (lazy imports included)
through the chain, I/O, layout and grid modules, one step machinery, one product layout."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "diapsar"
CHAIN_MODULES = ["context", "steps", "master_steps", "pair_steps", "runtime", "multislc", "demo", "cli"]
WATCHED = ("diapsar.chains", "diapsar.io", "diapsar.layout", "diapsar.deformation_grid", "diapsar.dem_projection",
           "diapsar.multilook")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of the package imported anywhere in ``path`` (top level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            mod = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t in modules and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
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
        for w in graph[v]:
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_through_the_chain():
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {m: {t for t in _imports(p, set(files)) if t != m} for m, p in files.items()}
    bad = [c for c in _cycles(graph) if any(m.startswith(WATCHED) for m in c)]
    assert not bad, f"import cycles: {bad}"


@pytest.mark.parametrize("module", CHAIN_MODULES)
def test_each_chain_module_imports_alone(module):
    proc = subprocess.run([sys.executable, "-c", f"import diapsar.chains.{module}"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_one_step_machinery_and_one_layout():
    """Completion records are written in one place; product file names are spelled in one module."""
    chain_sources = {p.name: p.read_text(encoding="utf-8") for p in (PKG / "chains").glob("*.py")}
    assert sum(s.count(".record(") for s in chain_sources.values()) == 1  # steps.run_step
    for name in ("interferogram.tif", "dem_scene.vrt", "_master_directory", "cartesian_mean.tif"):
        assert not [f for f, s in chain_sources.items() if f'"{name}' in s or f"{name}\"" in s], name
    from diapsar import layout

    assert layout.IFG_BANDS == ("amplitude", "phase", "coherence", "isData")
    assert layout.master_directory("20200101") == "20200101_master_directory"
    assert layout.pair_directory("20200101", "20200113") == "20200101_m_20200113_s"


def test_every_step_has_the_same_signature():
    import inspect

    from diapsar.chains import master_steps, multislc, pair_steps
    from diapsar.chains.steps import Step

    steps = [v for m in (master_steps, pair_steps, multislc) for v in vars(m).values() if isinstance(v, Step)]
    assert len({s.name for s in steps}) >= 12
    for s in steps:
        assert list(inspect.signature(s.__call__).parameters) == ["ctx", "unit"]
    assert list(inspect.signature(pair_steps.ortho_filtered).parameters) == ["ctx", "unit"]
