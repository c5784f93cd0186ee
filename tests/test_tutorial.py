"""docs/tutorial.ipynb: the notebook matches its jupytext source docs/tutorial.py,
stores no outputs, and runs from the first cell to the last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
from ipykernel.kernelspec import install as install_kernelspec
from nbclient import NotebookClient

import backproplab
from backproplab.data import catalog

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "docs" / "tutorial.py"
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
#: Where the kernel must import backproplab from: this checkout's source.
PACKAGE_DIR = Path(backproplab.__file__).resolve().parent
#: The folder, in the working folder, where the tutorial keeps the figures it draws.
FIGURES = "backproplab-tutorial-figures"
#: Appended to the notebook when it runs: reports which Python and which backproplab ran.
PROBE = "import sys, backproplab\nprint(sys.executable)\nprint(backproplab.__file__)"


def _cells(nb) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_notebook_is_generated_from_its_source():
    source = jupytext.read(SOURCE)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert _cells(notebook) == _cells(source), (
        "docs/tutorial.ipynb differs from docs/tutorial.py; regenerate it with "
        "`jupytext --to ipynb docs/tutorial.py`")
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_notebook_stores_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) >= 10
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def _kernel_env(tmp_path: Path, monkeypatch) -> Path:
    """A ``python3`` kernelspec running this interpreter, this checkout's source first
    on its path, and a private temporary folder (returned) for what the notebook writes."""
    prefix = tmp_path / "kernel"
    install_kernelspec(kernel_name="python3", prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    src = str(PACKAGE_DIR.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [src, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    return scratch


def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
    scratch = _kernel_env(tmp_path, monkeypatch)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    NotebookClient(notebook, timeout=170, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()

    text = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.output_type == "stream")
    executable, package = notebook.cells[-1].outputs[0]["text"].split()
    assert Path(executable) == Path(sys.executable)
    assert Path(package).resolve().parent == PACKAGE_DIR
    # the worked example's third row of dl/dV, and the sweep's mean +- std
    assert "[-0.44039853898894116, 0.44039853898894116]" in text
    assert "over 3 seeds [0, 1, 2]" in text
    images = [out for cell in notebook.cells for out in cell.get("outputs", [])
              if "image/png" in out.get("data", {})]
    assert len(images) >= 3
    # the runs lived in a temporary folder, now removed; the figures stay, each printed
    assert list(scratch.iterdir()) == []
    assert_figures_kept(cwd, text)


def assert_figures_kept(cwd: Path, printed: str) -> list[str]:
    """Only the figures folder is left in ``cwd``: PNGs, each printed with its path,
    and the closing list of them. Returns their names."""
    assert [p.name for p in cwd.iterdir()] == [FIGURES]
    kept = sorted((cwd / FIGURES).iterdir())
    assert kept and all(p.suffix == ".png" and p.read_bytes()[:4] == b"\x89PNG" for p in kept)
    for p in kept:
        assert f"figure: {p}" in printed
    assert f"figures kept in {cwd / FIGURES}" in printed
    return [p.name for p in kept]


#: Runs the script given as argument as ``__main__`` with Fashion-MNIST reported missing.
WITHOUT_FASHION = """import runpy, sys
import backproplab.data.catalog as catalog
catalog.locate = lambda *args, **kwargs: None
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def _run_script(tmp_path, monkeypatch, *args: str) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` as the kernel would run (this checkout's source, a private
    temporary folder, an empty working folder); checks that only the figures are left;
    returns the run and the names of the figures kept."""
    scratch = _kernel_env(tmp_path, monkeypatch)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=170, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(scratch.iterdir()) == []
    return done, assert_figures_kept(cwd, done.stdout)


def test_source_runs_as_a_plain_script(tmp_path, monkeypatch):
    done, figures = _run_script(tmp_path, monkeypatch, str(SOURCE))
    out = done.stdout
    assert "[-0.44039853898894116, 0.44039853898894116]" in out
    assert "all ok: True" in out
    if catalog.locate("fashion-mnist") is not None:
        assert "Fashion-MNIST: validation accuracy" in out
        assert "fashion_weights.png" in figures and "fashion_errors.png" in figures


def test_without_fashion_mnist_it_says_so_and_uses_synth(tmp_path, monkeypatch):
    done, figures = _run_script(tmp_path, monkeypatch, "-c", WITHOUT_FASHION, str(SOURCE))
    out = done.stdout
    assert "Fashion-MNIST was not found on this machine" in out
    assert figures == ["sweep.png", "synth_activations.png", "synth_boundary.png"]
    assert "all ok: True" in out
