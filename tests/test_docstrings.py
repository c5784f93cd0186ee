"""The public API's numpydoc docstrings: their sections, and their examples run.

Every public name of the project (every name in any module's ``__all__`` that
is a function or a class) must carry a numpydoc docstring: a summary line,
``Parameters`` when it takes any, ``Returns`` (or ``Yields``) when a function
gives a value back, ``Raises`` when it raises the project's error itself.
Every module whose docstrings hold examples runs them as doctests. ``CHECKED``
is found with :mod:`pkgutil`, so a new package or module is checked without
editing this test.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import textwrap
import types
from itertools import pairwise
from pathlib import Path

import pytest

import backproplab
from backproplab.check import check_file, compare
from backproplab.data import load, load_dataset
from backproplab.sweeps import Sweep, run_sweep, spec
from backproplab.training import TrainConfig, config, fit, loop, run_training


def _units(package) -> list[str]:
    """Every top-level package and module of ``package`` (found with pkgutil)."""
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
                  if not m.name.endswith(".__main__"))


#: every top-level package and module of backproplab (the root module only re-exports)
CHECKED = _units(backproplab)
OPTIONAL = {"backproplab.sklearn": "sklearn"}  # packages that need an extra to import
#: the project's errors: a public callable raising one says so under Raises
ERRORS = {"BackproplabError", "DivergenceError", "EstimatorInputError",
          "EstimatorDivergenceError", "bad", "_bad"}


def _modules(name: str) -> list[str]:
    module = importlib.import_module(name)
    found = [name]
    if hasattr(module, "__path__"):
        found += [m.name for m in pkgutil.walk_packages(module.__path__, name + ".")]
    return [m for m in found if not m.endswith("__main__")]


def _checked_modules():
    for package in CHECKED:
        if package in OPTIONAL:
            pytest.importorskip(OPTIONAL[package])
        yield from (importlib.import_module(m) for m in _modules(package))


def _public(module) -> list:
    return [obj for name in getattr(module, "__all__", [])
            if inspect.isfunction(obj := getattr(module, name))
            or inspect.isclass(obj)]


def _sections(obj) -> set[str]:
    lines = (inspect.getdoc(obj) or "").splitlines()
    return {a.strip() for a, b in pairwise(lines)
            if b.strip() and set(b.strip()) == {"-"} and len(b.strip()) == len(a.strip())}


def _own_body(func) -> list[ast.AST]:
    """The nodes of ``func``'s body, not those of functions or classes inside it
    (none for a generated function, such as a dataclass's ``__init__``)."""
    try:
        source = inspect.getsource(func)
    except OSError:
        return []
    tree = ast.parse(textwrap.dedent(source)).body[0]
    nodes, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def wanted_sections(obj) -> set[str]:
    """The numpydoc sections ``obj``'s docstring needs, read from its signature and source."""
    wanted = set()
    if inspect.isclass(obj):
        own = "__init__" in vars(obj) or "__new__" in vars(obj)
        params = list(inspect.signature(obj).parameters) if own else []
        func = vars(obj).get("__init__")
        func = func if inspect.isfunction(func) else None
    else:
        params, func = list(inspect.signature(obj).parameters), obj
    if params:
        wanted.add("Parameters")
    if func is None:
        return wanted
    body = _own_body(func)
    if func is obj:
        if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in body):
            wanted.add("Yields")
        elif (inspect.signature(func).return_annotation not in (None, "None")
              and any(isinstance(n, ast.Return) and n.value is not None
                      and not (isinstance(n.value, ast.Constant) and n.value.value is None)
                      for n in body)):
            wanted.add("Returns")
    raised = {getattr(n.exc.func, "id", getattr(n.exc.func, "attr", None)) for n in body
              if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)}
    if raised & ERRORS:
        wanted.add("Raises")
    return wanted


def _public_ids():
    seen = {}
    for package in CHECKED:
        try:
            modules = _modules(package)
        except ImportError:
            continue
        for name in modules:
            module = importlib.import_module(name)
            for obj in _public(module):
                seen.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return seen


PUBLIC = _public_ids()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_numpydoc_sections(name):
    obj = PUBLIC[name]
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    assert doc.splitlines()[0].strip(), f"{name}'s docstring has no summary line"
    have = _sections(obj)
    if inspect.isclass(obj) and "Attributes" in have:  # a record: its fields are attributes
        have.add("Parameters")
    missing = wanted_sections(obj) - have
    assert not missing, f"{name}'s docstring lacks {sorted(missing)}"


def test_a_new_package_or_module_is_checked_without_editing_this_test(tmp_path):
    root = tmp_path / "pkg"
    (root / "newpkg").mkdir(parents=True)
    for name in ("__init__.py", "__main__.py", "newmod.py", "newpkg/__init__.py"):
        (root / name).write_text("")
    (root / "notes").mkdir()  # a folder that is no package
    package = types.SimpleNamespace(__path__=[str(root)], __name__="pkg")
    assert _units(package) == ["pkg.newmod", "pkg.newpkg"]
    assert {"backproplab.data", "backproplab.bench", "backproplab.predict",
            "backproplab.graph", "backproplab.cli"} <= set(CHECKED)


def test_the_checked_packages_have_public_names():
    assert len(PUBLIC) > 100
    assert {"backproplab.tensor.model.MLP", "backproplab.fileio.atomic_write_json",
            "backproplab.study.report.build.build_report"} <= set(PUBLIC)


def test_section_finder_sees_a_missing_section():
    def f():
        """Do it.

        Parameters
        ----------
        Returns
        -------
        Examples
        ---
        """
    assert _sections(f) == {"Parameters", "Returns"}


def test_wanted_sections_read_the_signature_and_the_source():
    def quiet(x) -> None:
        print(x)

    def gives(x):
        if x:
            raise backproplab.errors.BackproplabError("no")
        return x

    def lazy(x: int) -> int:
        def inner():
            return 1
        yield inner()

    class Plain:
        pass

    class Made:
        def __init__(self, n):
            self.n = n

    assert wanted_sections(quiet) == {"Parameters"}
    assert wanted_sections(gives) == {"Parameters", "Returns", "Raises"}
    assert wanted_sections(lazy) == {"Parameters", "Yields"}
    assert wanted_sections(Plain) == set()
    assert wanted_sections(Made) == {"Parameters"}


def test_example_finder_leaves_out_skipped_examples():
    assert _runs_examples("    >>> f()\n    1\n")
    assert not _runs_examples("    >>> f()  # doctest: +SKIP\n    >> g()\n")


def _runs_examples(source: str) -> bool:
    """Whether ``source`` has an example that doctest runs (not only ``+SKIP`` ones)."""
    return any(line.lstrip().startswith(">>> ") and "+SKIP" not in line
               for line in source.splitlines())


def _source(name: str) -> str:
    """The text of module ``name``'s file (``inspect.getsource`` fails on an empty one)."""
    return Path(importlib.import_module(name).__file__).read_text(encoding="utf-8")


def _doctest_modules() -> list[str]:
    names = []
    for package in CHECKED:
        try:
            names += [m for m in _modules(package)
                      if _runs_examples(_source(m))]
        except ImportError:
            continue
    return names


@pytest.mark.parametrize("name", _doctest_modules())
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# The entry points a user starts from have examples, and their modules' doctests pass.
ENTRY_POINTS = [fit, load_dataset, TrainConfig, run_training, Sweep, run_sweep, check_file]


@pytest.mark.parametrize("obj", ENTRY_POINTS, ids=lambda o: o.__name__)
def test_entry_points_have_examples(obj):
    sections = _sections(obj)
    wanted = {"Parameters", "Examples"} | ({"Returns"} if inspect.isfunction(obj) else set())
    assert wanted <= sections, f"{obj.__name__} lacks {sorted(wanted - sections)}"


@pytest.mark.parametrize("module", [load, spec, config, loop, compare],
                         ids=lambda m: m.__name__)
def test_entry_point_doctests_pass(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
