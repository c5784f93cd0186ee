"""The public API's numpydoc docstrings: their sections, and their cheap examples run."""

from __future__ import annotations

import doctest
import inspect
from itertools import pairwise

import pytest

from backproplab.check import check_file, compare
from backproplab.data import load, load_dataset
from backproplab.scalar import worked, worked_pass
from backproplab.sweeps import Sweep, run_sweep, spec
from backproplab.tensor import MLP, make_optimizer, model, optim, train, train_step
from backproplab.training import TrainConfig, config, fit, loop, run_training

PUBLIC = [MLP, make_optimizer, train_step, fit, load_dataset, TrainConfig, run_training,
          Sweep, run_sweep, worked_pass, check_file]


def _sections(obj) -> set[str]:
    lines = inspect.getdoc(obj).splitlines()
    return {a.strip() for a, b in pairwise(lines)
            if b.strip() and set(b.strip()) == {"-"} and len(b.strip()) == len(a.strip())}


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: o.__name__)
def test_numpydoc_sections(obj):
    sections = _sections(obj)
    wanted = {"Parameters", "Examples"}
    if inspect.isfunction(obj):
        wanted.add("Returns")
    assert wanted <= sections, f"{obj.__name__} lacks {sorted(wanted - sections)}"
    assert ">>> " in inspect.getdoc(obj)


def test_sklearn_classifier_docstring():
    pytest.importorskip("sklearn")
    from backproplab.sklearn import MLPClassifier

    test_numpydoc_sections(MLPClassifier)


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


@pytest.mark.parametrize("module", [model, optim, train, loop, load, config, spec, worked,
                                    compare], ids=lambda m: m.__name__)
def test_doctests_pass(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
