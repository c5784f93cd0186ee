"""The layers point down only (docs/architecture.md): each package may import
only the packages below it. Checked on the source, import by import."""

import ast
from pathlib import Path

import pytest

import backproplab

ROOT = Path(backproplab.__file__).parent
BASE = {"errors", "fileio", "__version__"}  # the package root: version only
ALLOWED = {
    "tensor": BASE | {"tensor"},
    "data": BASE | {"data"},
    "training": BASE | {"data", "tensor", "scalar", "training"},
    "experiments": BASE | {"data", "tensor", "scalar", "training", "experiments", "gradcheck"},
    "gradcheck.py": BASE | {"scalar", "tensor", "gradcheck"},
    "sklearn": BASE | {"data", "tensor", "training", "sklearn"},
    "bench.py": BASE | {"data", "tensor", "training", "bench"},
}


def project_imports(path: Path) -> set[str]:
    """The backproplab sub-packages/modules that ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "backproplab":
                names = [f"backproplab.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "backproplab" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("unit", sorted(ALLOWED))
def test_layer_imports_point_down(unit):
    target = ROOT / unit
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    for f in files:
        bad = project_imports(f) - ALLOWED[unit]
        assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)}, above its layer"


def test_checker_sees_a_violation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from backproplab.experiments.sweep import run_sweep\nimport numpy\n")
    assert project_imports(f) == {"experiments"}
