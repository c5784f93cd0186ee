"""The shape of the code (docs/architecture.md), checked on the source.

- Layers point down: each package may import only the packages below it.
- No import circle between modules anywhere in ``src/`` (imports inside
  functions count too: hiding an import in a function does not break a circle).
- Project modules are imported at the top of a module; only heavy or optional
  third-party libraries may be imported inside functions.
- No module reads another module's private (``_name``) names.
- No module over 600 lines, no function over 80.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import backproplab

ROOT = Path(backproplab.__file__).parent
BASE = {"errors", "fileio", "__version__"}  # the package root: version only
ENGINES = {"tensor", "scalar", "data"}
ALLOWED = {
    "scalar": {"scalar"},  # the standard library only (tests/scalar/test_purity.py)
    "tensor": BASE | {"tensor"},
    "data": BASE | {"data"},
    "runs": BASE | {"tensor", "runs"},
    "locks.py": BASE | {"runs", "locks"},
    "seedstats.py": BASE | {"seedstats"},
    "plots": BASE | {"runs", "seedstats", "plots"},
    "inspection": BASE | ENGINES | {"runs", "plots", "predict", "inspection"},
    "training": BASE | ENGINES | {"runs", "locks", "training"},
    "gradcheck.py": BASE | {"scalar", "tensor", "gradcheck"},
    "sweeps": BASE | ENGINES | {"runs", "locks", "seedstats", "training", "sweeps"},
    "predict": BASE | ENGINES | {"runs", "training", "predict"},
    "study": BASE | ENGINES | {"runs", "locks", "plots", "inspection", "training", "sweeps",
                              "gradcheck", "predict", "graph", "study"},
    "sklearn": BASE | {"data", "tensor", "training", "sklearn"},
    "bench": BASE | ENGINES | {"runs", "training", "bench"},
    "graph.py": BASE | {"graph"},
    "check": BASE | {"scalar", "check"},
}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _sources() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST):
    """``(node, absolute module name, imported names)`` for every project import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module, [a.name for a in node.names]


def project_imports(path: Path) -> set[str]:
    """The backproplab sub-packages/modules that ``path`` imports."""
    found = set()
    for _, module, names in _imports(ast.parse(path.read_text(), filename=str(path))):
        parts = module.split(".")
        if parts[0] != "backproplab":
            continue
        if len(parts) > 1:
            found.add(parts[1])
        else:
            found.update(names)
    return found


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_layer_imports_point_down(unit):
    target = ROOT / unit
    if not target.exists():
        target = ROOT / f"{unit}.py"
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    for f in files:
        bad = project_imports(f) - ALLOWED[unit]
        assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)}, above its layer"


def test_every_package_has_a_layer():
    units = {p.name for p in ROOT.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    top = {"__init__.py", "__main__.py", "cli.py", "commands", "errors.py", "fileio.py"}
    units = {u.removesuffix(".py") if u.removesuffix(".py") in ALLOWED else u for u in units}
    assert units - top <= set(ALLOWED), f"give these a layer: {sorted(units - top - set(ALLOWED))}"


def test_checker_sees_a_violation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from backproplab.sweeps.driver import run_sweep\nimport numpy\n")
    assert project_imports(f) == {"sweeps"}


def _graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in it)."""
    modules = {_module_name(p): p for p in _sources()}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for _, module, names in _imports(ast.parse(path.read_text())):
            if not module.startswith("backproplab"):
                continue
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules] or [module]
            for t in targets:
                while t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in modules and t != name:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    # a package's __init__ re-exports its modules; those edges are not circles of design
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in _graph().items()}
    assert cycles(graph) == []


def test_project_imports_are_at_module_top():
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        top |= {id(n) for stmt in tree.body if isinstance(stmt, (ast.If, ast.Try))
                for n in ast.walk(stmt)}
        for node, module, _ in _imports(tree):
            if module.startswith("backproplab") and id(node) not in top:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module}")
    assert not bad, "project imports inside functions:\n" + "\n".join(bad)


def test_no_private_names_read_across_modules():
    bad = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        aliases = set()
        for node, module, names in _imports(tree):
            if not module.startswith("backproplab"):
                continue
            bad += [f"{path.relative_to(ROOT)}: from {module} import {n}"
                    for n in names if n.startswith("_") and not n.startswith("__")]
            if isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names}
            else:
                aliases |= {a.asname or a.name for a in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not bad, "private names read from another module:\n" + "\n".join(bad)


def test_rooms_are_small_enough():
    bad = []
    for path in _sources():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            bad.append(f"{path.relative_to(ROOT)} has {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}() has {n} lines")
    assert not bad, "modules over 600 lines or functions over 80:\n" + "\n".join(bad)
