"""Shared test helpers."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys

import pytest

from backproplab.cli import main
from backproplab.tensor import blas, kernels

# No test may reach the internet: downloads are off for the whole suite (and for the
# subprocesses it starts), and plots never need a display.
os.environ["BACKPROPLAB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")


#: What the optional-dependency tests need; ``.ci/run`` installs all of it and sets
#: BACKPROPLAB_REQUIRE_EXTRAS=1, so that there a missing piece fails the run at once
#: instead of letting its tests skip silently (locally they skip).
REQUIRED_EXTRAS = ("torch", "sklearn", "ray", "PIL", "onnx", "onnxruntime", "graphviz",
                   "tensorboard", "pandas", "numba")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
#: Debian's Chromium, for the report's real-browser test (tests/study/html_checks.py).
CHROMIUM = "/usr/bin/chromium"


#: Intel's MKL (the ``mkl`` extra: a wheel of libraries, no Python module), for the
#: ``gemm='mkl'`` tests; its wheels exist for x86-64 only, so only there is it required.
HAS_MKL = blas.present("mkl")
MKL_INSTALLABLE = platform.machine().lower() in ("x86_64", "amd64")
needs_mkl = pytest.mark.skipif(not HAS_MKL, reason="Intel's MKL (mkl extra) is not installed")

#: Numba (the ``numba`` extra), for the compiled kernels of the fused SGD step.
HAS_NUMBA = kernels.present("numba")
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="Numba (numba extra) is not installed")


#: Graphviz (the ``graph`` extra and its ``dot`` program), for the computation graph.
HAS_GRAPHVIZ = importlib.util.find_spec("graphviz") is not None and shutil.which("dot") is not None
needs_graphviz = pytest.mark.skipif(not HAS_GRAPHVIZ, reason="Graphviz (graph extra, dot) "
                                    "is not installed")


def pytest_sessionstart(session):
    if os.environ.get("BACKPROPLAB_REQUIRE_EXTRAS") != "1":
        return

    missing = [m for m in REQUIRED_EXTRAS if importlib.util.find_spec(m) is None]
    if not os.path.isdir(FASHION_MNIST_DIR):
        missing.append(f"Debian's dataset-fashion-mnist ({FASHION_MNIST_DIR})")
    if not os.path.exists(CHROMIUM):
        missing.append(f"Debian's chromium ({CHROMIUM})")
    if shutil.which("dot") is None:
        missing.append("Graphviz's dot (Debian's graphviz)")
    if MKL_INSTALLABLE and not HAS_MKL:
        missing.append("Intel's MKL (the mkl extra)")
    if missing:
        pytest.exit(f"BACKPROPLAB_REQUIRE_EXTRAS=1 but these are missing: {', '.join(missing)}; "
                    "their tests would only skip", returncode=1)


class CliResult:
    def __init__(self, status: int, out: str, err: str):
        self.status, self.out, self.err = status, out, err

    def json(self) -> dict:
        """The JSON object on the last line of stdout."""
        return json.loads(self.out.strip().splitlines()[-1])


@pytest.fixture
def cli(capsys):
    """Run ``backproplab ARGS`` in-process; returns a CliResult (status, out, err)."""

    def run(*args: str) -> CliResult:
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            status = exc.code if isinstance(exc.code, int) else 1
        cap = capsys.readouterr()
        return CliResult(status, cap.out, cap.err)

    return run


def run_subprocess(*args: str, timeout: float = 600, env: dict | None = None, **kw):
    """Run ``python -m backproplab ARGS`` in a child process (for SIGKILL/exit-code tests)."""
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    if env:
        full_env.update(env)
    return subprocess.run(  # noqa: PLW1510 - callers read returncode
        [sys.executable, "-m", "backproplab", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=full_env, **kw,
    )


@pytest.fixture(scope="session")
def tiny_synth_run(tmp_path_factory):
    """A run folder: a small synth model (tanh, standardized inputs), trained briefly."""
    from backproplab.training import TrainConfig, run_training

    out = tmp_path_factory.mktemp("tiny") / "synth"
    run_training(TrainConfig(dataset="synth", hidden=(8,), activation="tanh", lr=0.5,
                             batch_size=32, epochs=2, limit=1000, threads=1),
                 out, progress="quiet")
    return out


@pytest.fixture(scope="session")
def tiny_fashion_run(tmp_path_factory):
    """A run folder: a small Fashion-MNIST model (relu, per-pixel standardization) trained
    on 300 images; skips where the data is not installed."""
    from backproplab.training import TrainConfig, run_training

    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("Fashion-MNIST is not installed")
    out = tmp_path_factory.mktemp("tiny") / "fashion"
    run_training(TrainConfig(dataset="fashion-mnist", hidden=(16,), activation="relu",
                             normalize="standardize", lr=0.05, batch_size=50, epochs=1,
                             limit=300, threads=1, data_dir=FASHION_MNIST_DIR),
                 out, progress="quiet")
    return out
