"""The package's layering: a module imports only from its own layer or the layers below it,
no module takes part in an import cycle, and every module imports in a fresh interpreter in
dependency order without pulling in a higher layer.

Imports are read with ``ast`` from every file under ``reidlab/``: module-level and
function-local ``import`` / ``from ... import`` statements, plus string constants that name a
reidlab module (the lazy tables of ``reidlab.cli`` and ``reidlab.engine``). The table below
is the whole policy: a new package gets a row.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reidlab"

#: Layers from the bottom up: (name, module prefixes). A module belongs to the layer of its
#: longest matching prefix (``"reidlab"`` itself matches only the root package). Notes:
#: * base: the version, errors, atomic file writes, shared argument checks, the device and
#:   logging helpers, and the papers' published numbers (pure data);
#: * losses sits above models: it may use the loss-term contract (``reidlab.models.base``)
#:   but no model (see :data:`FORBIDDEN`);
#: * the presets (training recipes as data, with their iterations per epoch from the PK
#:   sampler) and ``reidlab presets`` (``reidlab.presets_cli``) sit with the engine that trains
#:   them: layers below take a recipe's values as arguments, never the preset itself;
#: * the root package ``reidlab`` is the facade on top (``reidlab.FeatureExtractor`` loads the
#:   engine lazily): nothing inside the package imports it (the version is ``reidlab._version``).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("reidlab._version", "reidlab.errors", "reidlab.fileio", "reidlab._checks", "reidlab.device",
              "reidlab.log", "reidlab.paper_results")),
    ("data", ("reidlab.data",)),
    ("models", ("reidlab.models",)),
    ("losses", ("reidlab.losses",)),
    ("eval", ("reidlab.eval",)),
    ("engine", ("reidlab.engine", "reidlab.presets", "reidlab.presets_cli")),
    ("viz", ("reidlab.viz",)),
    ("lab", ("reidlab.lab",)),
    ("report", ("reidlab.report",)),
    ("cli", ("reidlab.cli", "reidlab.__main__")),
    ("api", ("reidlab",)),
]

#: Edges forbidden even where the layers would allow them: (importer prefix, imported prefix,
#: allowed exceptions).
FORBIDDEN: list[tuple[str, str, tuple[str, ...]]] = [
    ("reidlab.losses", "reidlab.models.", ("reidlab.models.base",)),   # losses use no model
]

#: Known violations that other work is removing. Each entry must still exist: when the edge
#: is gone the test fails, so that the entry is deleted with it.
ALLOWED: dict[tuple[str, str], str] = {
    ("reidlab.viz.examples", "reidlab.report.examples"):
        "`python -m reidlab.viz.examples` (the name issue 12 gives the README figure script) forwards, "
        "when run, to reidlab.report.examples, which needs reidlab.lab; importing viz.examples imports nothing",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    """Every reidlab module -> its file."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            hit = module == p or (p != "reidlab" and module.startswith(p + "."))
            if hit and len(p) > best_len:
                best, best_len = rank, len(p)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return best


def _resolve(module: str, node: ast.ImportFrom, importer: str, is_pkg: bool) -> str:
    if not node.level:
        return module or ""
    base = importer.split(".") if is_pkg else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([module] if module else []))


def read_imports(source: str, name: str, is_pkg: bool, known) -> dict[str, bool]:
    """The reidlab modules ``source`` (module ``name``) imports -> True if at module level."""
    tree = ast.parse(source, name)
    top = set(map(id, tree.body))
    deps: dict[str, bool] = {}

    def add(target: str, node: ast.AST) -> None:
        if target in known and target != name:
            deps[target] = deps.get(target, False) or id(node) in top

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name, node)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node, name, is_pkg)
            for a in node.names:   # ``from pkg import submodule`` imports the submodule
                add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base, node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value != "reidlab":
            add(node.value, node)   # lazy tables: {"train": ("reidlab.engine.cli", "train_main")}
    return deps


@lru_cache(maxsize=1)
def graph() -> dict[str, dict[str, bool]]:
    """importer -> {imported module: True if imported at module level (runs on import)}."""
    known = modules()
    return {name: read_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known)
            for name, path in known.items()}


def violations(g: dict[str, dict[str, bool]]) -> list[str]:
    """Edges of ``g`` against :data:`LAYERS` and :data:`FORBIDDEN` (minus :data:`ALLOWED`)."""
    bad = []
    for importer, deps in g.items():
        for dep in deps:
            if (importer, dep) in ALLOWED:
                continue
            if layer_of(dep) > layer_of(importer):
                bad.append(f"{importer} ({LAYERS[layer_of(importer)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})")
            for src, dst, ok in FORBIDDEN:
                if (importer == src or importer.startswith(src + ".")) and dep.startswith(dst) and dep not in ok:
                    bad.append(f"{importer} imports {dep} (forbidden: {src} -> {dst}*)")
    return bad


def test_every_module_is_in_a_layer():
    for name in modules():
        layer_of(name)


def test_modules_import_only_from_their_layer_or_below():
    bad = violations(graph())
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_allowed_exceptions_still_exist():
    gone = [f"{a} -> {b}: {why}" for (a, b), why in ALLOWED.items() if b not in graph().get(a, {})]
    assert not gone, "these allowed edges are gone; delete their ALLOWED entries:\n" + "\n".join(gone)


def dependency_order(full=None) -> list[str]:
    """Modules sorted by layer, then so that each comes after what it imports (DFS post-order);
    raises on an import cycle (module-level or function-local)."""
    g = {m: [d for d in deps if (m, d) not in ALLOWED] for m, deps in (full or graph()).items()}
    order: list[str] = []
    state: dict[str, int] = {}   # 1 visiting, 2 done

    def visit(m: str, stack: list[str]) -> None:
        if state.get(m) == 2:
            return
        if state.get(m) == 1:
            cycle = stack[stack.index(m):] + [m]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        state[m] = 1
        for d in sorted(g[m]):
            visit(d, stack + [m])
        state[m] = 2
        order.append(m)

    for m in sorted(g):
        visit(m, [])
    rank = {m: i for i, m in enumerate(order)}
    return sorted(order, key=lambda m: (layer_of(m), rank[m]))


def test_no_import_cycles():
    dependency_order()


_IMPORTER = """
import importlib, json, sys
order, layer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
problems = []
for name in order:
    try:
        importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - report every failure
        problems.append(f"import {name} failed: {type(err).__name__}: {err}")
        continue
    above = sorted(m for m in sys.modules if m in layer and layer[m] > layer[name]
                   and not name.startswith(m + "."))   # a module's parent packages load with it
    if above:
        problems.append(f"importing {name} loaded the higher-layer {', '.join(above)}")
print(json.dumps(problems))
"""


def test_every_module_imports_in_a_fresh_interpreter_in_dependency_order():
    order = [m for m in dependency_order() if m != "reidlab.__main__"]   # __main__ runs the CLI
    layer = {m: layer_of(m) for m in modules()}
    proc = subprocess.run([sys.executable, "-c", _IMPORTER, json.dumps(order), json.dumps(layer)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    problems = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source, expect", [
    ("from reidlab.engine.trainer import train\n", "reidlab.engine.trainer"),
    ("def f():\n    from reidlab.viz import curves\n", "reidlab.viz.curves"),
    ("import reidlab.models.pfn\n", "reidlab.models.pfn"),
    ('TABLE = {"x": ("reidlab.eval.metrics", "rank_metrics")}\n', "reidlab.eval.metrics"),
])
def test_the_checker_reports_a_planted_upward_import(source, expect):
    """The checker itself: an upward import planted in a data module (module level, in a
    function, or in a lazy table) is found and reported."""
    g = dict(graph())
    g["reidlab.data._planted"] = read_imports(source, "reidlab.data._planted", False, modules())
    assert expect in g["reidlab.data._planted"]
    assert any(v.startswith(f"reidlab.data._planted (data) imports {expect}") for v in violations(g))
    with pytest.raises(AssertionError, match="import cycle"):
        cyclic = dict(g, **{expect: {**g[expect], "reidlab.data._planted": True}})
        dependency_order(cyclic)
