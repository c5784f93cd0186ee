"""The scalar engine imports nothing but ``math`` and ``random`` (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import backproplab.scalar

ALLOWED = {"math", "random"}
PACKAGE_DIR = Path(backproplab.scalar.__file__).parent


def _imports(path: Path):
    """``(lineno, description, allowed)`` for every import-like construct in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, f"import {alias.name}", alias.name in ALLOWED
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, f"from {node.module} import ...", node.module in ALLOWED
            else:
                # relative: only siblings inside backproplab.scalar (files sit directly in it)
                ok = node.level == 1 and path.parent == PACKAGE_DIR
                yield node.lineno, f"from {'.' * node.level}{node.module or ''} import ...", ok
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("__import__", "import_module", "exec", "eval"):
                yield node.lineno, f"call to {name}()", False


def test_scalar_package_imports_only_math_and_random():
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert PACKAGE_DIR / "network.py" in files and PACKAGE_DIR / "__init__.py" in files
    bad = [
        f"{p.relative_to(PACKAGE_DIR)}:{line}: {what}"
        for p in files
        for line, what, ok in _imports(p)
        if not ok
    ]
    assert not bad, "forbidden imports in backproplab.scalar: " + "; ".join(bad)


def test_purity_check_catches_forbidden_imports(tmp_path):
    """The checker itself flags numpy, absolute backproplab imports and __import__."""
    p = tmp_path / "bad.py"
    p.write_text(
        "import math\nimport numpy as np\nfrom backproplab.errors import BackproplabError\n"
        "from random import Random\nx = __import__('os')\n",
        encoding="utf-8",
    )
    verdicts = {what: ok for _, what, ok in _imports(p)}
    assert verdicts == {
        "import math": True,
        "import numpy": False,
        "from backproplab.errors import ...": False,
        "from random import ...": True,
        "call to __import__()": False,
    }
