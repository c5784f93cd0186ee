"""Packaging: the sdist carries docs/, the wheel carries the documents the report
links to (study.md, derivations.md), and building raises no license deprecation.

Built offline from a copy of the source tree with the environment's own
setuptools (``python -m build --no-isolation``; the dev extra installs both).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from backproplab.study.layout import NOTES

ROOT = Path(__file__).resolve().parents[1]
#: What is not source: never copied into the build's tree.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(sdist, wheel, build output)`` built from a copy of this checkout."""
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src-tree"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE, symlinks=True)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(tmp / "dist"), str(src)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (sdist,) = (tmp / "dist").glob("*.tar.gz")
    (wheel,) = (tmp / "dist").glob("*.whl")
    return sdist, wheel, done.stdout + done.stderr


def test_build_raises_no_license_deprecation(built):
    _, _, output = built
    assert "deprecated" not in output.lower(), output[-3000:]


def test_sdist_carries_the_docs(built):
    sdist, _, _ = built
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        member = tar.getmember(f"{sdist.name.removesuffix('.tar.gz')}/docs/study.md")
        assert member.isfile()
    docs = {str(p.relative_to(ROOT)) for p in (ROOT / "docs").iterdir() if p.is_file()}
    assert docs and docs <= names
    assert {"LICENSE", "README.md", "pyproject.toml"} <= names
    assert {f"src/backproplab/study/{name}" for name in NOTES} <= names


def test_wheel_carries_the_documents_the_report_copies_and_the_license(built):
    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        notes = {name: zf.read(f"backproplab/study/{name}") for name in NOTES}
        info = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
        licenses = [n for n in zf.namelist() if ".dist-info/licenses/" in n]
    assert notes == {name: (ROOT / "docs" / name).read_bytes() for name in NOTES}
    assert "License-Expression: MIT" in metadata.splitlines()
    assert [Path(n).name for n in licenses] == ["LICENSE"]
