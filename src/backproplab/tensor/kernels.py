"""Which code does the fused SGD step's elementwise work on the CPU: NumPy or compiled loops.

Between its matrix products (:mod:`backproplab.tensor.blas`), a training step
adds biases, applies the activation and its derivative, takes the softmax
cross-entropy and its gradient, and sums columns for the bias updates. The
kernels, by name (:data:`KERNELS`):

- ``numpy``: NumPy's operations (:mod:`backproplab.tensor.layers`), one call and
  one pass over memory each;
- ``numba``: the loops of :mod:`backproplab.tensor.loops`, compiled by Numba (the
  optional ``numba`` extra), one call and one pass per stage of the step.

The two agree to float rounding (the softmax cross-entropy's ``exp``, ``log``
and sums differ at rounding; every other stage is bit-identical), so a run records which
it used (``TrainConfig.kernels``) and enters it with :func:`use_kernels` for its
duration; a replay or resume uses the same. Only the fused plain-SGD step
(:func:`backproplab.tensor.train.train_step`) on the CPU uses them; evaluation,
prediction and the other optimizers compute with NumPy. Outside a ``with``
block the selection is ``numpy``.

The step asks :func:`step_ops` for the operations of the current selection: an
object with ``hidden_forward``, ``logits_forward``, ``direction`` and
``hidden_grad`` (:class:`NumpyOps`, :class:`LoopOps`).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import numpy as np

from backproplab.errors import BackproplabError, choose_from, import_optional
from backproplab.tensor.layers import exp_floor

#: The kernel choices, by name.
KERNELS = ("numpy", "numba")

_SELECTED = "numpy"


@functools.cache
def _loops():
    """The compiled loops module, or ``None`` when Numba cannot be imported here."""
    try:
        return _import_loops()
    except BackproplabError:
        return None


def _import_loops(**otherwise):
    """Import the loops, or raise the one sentence naming the ``numba`` extra."""
    need = {"package": "Numba", "extra": "numba", "needed_by": "kernels='numba'", **otherwise}
    # Numba first: the loops module may be imported already while Numba is gone
    import_optional("numba", **need)
    return import_optional("backproplab.tensor.loops", **need)


def present(name: str) -> bool:
    """Whether the kernels ``name`` can be used here (``numba``: Numba imports).

    Parameters
    ----------
    name : str
        One of :data:`KERNELS`.

    Returns
    -------
    bool
    """
    return name == "numpy" or (name == "numba" and _loops() is not None)


def default_kernels() -> str:
    """What a run on the CPU uses when it asks for none: ``numba`` where it is installed.

    Returns
    -------
    str
    """
    return "numba" if present("numba") else "numpy"


def require(name: str) -> None:
    """Raise the one sentence naming the fix when the kernels ``name`` cannot be used here.

    Parameters
    ----------
    name : str
        The kernels asked for.

    Raises
    ------
    BackproplabError
        For an unknown name, or ``numba`` without Numba (naming the extra).
    """
    if name not in KERNELS:
        raise BackproplabError(f"unknown kernels {name!r}; choose {choose_from('kernels', KERNELS)}",
                               settings=("kernels",))
    if not present(name):
        _import_loops(otherwise="kernels='numpy' for a new run (a run that used numba "
                                "replays and resumes only with it)")


def selected() -> str:
    """The kernels selected now.

    Returns
    -------
    str
        ``numpy`` outside a :func:`use_kernels` block.
    """
    return _SELECTED


@contextmanager
def use_kernels(name: str | None):
    """Compute the fused step's elementwise work with ``name`` inside a ``with`` block.

    Parameters
    ----------
    name : str or None
        One of :data:`KERNELS`; ``None`` keeps the current selection.

    Yields
    ------
    str
        The selection inside the block; the previous one comes back at its end.

    Raises
    ------
    BackproplabError
        When ``name`` is unknown or not available here (:func:`require`).

    Examples
    --------
    >>> with use_kernels("numpy"):
    ...     selected()
    'numpy'
    """
    global _SELECTED
    if name is not None:
        require(name)
    old = _SELECTED
    _SELECTED = name or old
    try:
        yield _SELECTED
    finally:
        _SELECTED = old


class NumpyOps:
    """The step's elementwise stages as NumPy (or CuPy) operations of the layers."""

    @staticmethod
    def hidden_forward(Z, b, act):
        """``Z = act(Z + b)`` in place (``act``: an activation class)."""
        Z += b
        act.forward(Z, out=Z)

    @staticmethod
    def logits_forward(Z, b):
        """``Z += b``."""
        Z += b

    @staticmethod
    def direction(loss_fn, logits, y, scale, db):
        """The batch's mean loss; ``logits`` becomes ``scale * (softmax - onehot(y))``
        and ``db`` its column sums."""
        loss, probs = loss_fn.forward(logits, y, probs_out=logits)
        dY = loss_fn.backward(probs, y, out=probs, scale=scale)
        dY.sum(axis=0, out=db)
        return loss

    @staticmethod
    def hidden_grad(dH, H, act, tmp, db):
        """``dH = dH * act'(H)`` in place, and ``db`` its column sums."""
        dY = act.backward(dH, H, out=dH, tmp=tmp)
        dY.sum(axis=0, out=db)
        return dY


class LoopOps:
    """The same stages as the compiled loops of :mod:`backproplab.tensor.loops`.

    Parameters
    ----------
    loops : module
        :mod:`backproplab.tensor.loops` (imported only where Numba is installed).
    """

    def __init__(self, loops):
        self.loops = loops

    def hidden_forward(self, Z, b, act):
        """``Z = act(Z + b)`` in place; sigmoid and tanh keep NumPy's vectorized ``tanh``
        (the sigmoid as ``(1 + tanh(z / 2)) / 2``, as ``layers.Sigmoid`` computes it)."""
        code = self.loops.ACTIVATION_CODES.get(act.name)
        if code is None:  # an activation without a loop
            NumpyOps.hidden_forward(Z, b, act)
            return
        self.loops.bias_forward(Z, b, code)
        if act.name != "relu":
            np.tanh(Z, out=Z)
        if act.name == "sigmoid":
            self.loops.half_up(Z)

    def logits_forward(self, Z, b):
        """``Z += b``."""
        self.loops.bias_forward(Z, b, self.loops.PLAIN)

    def direction(self, loss_fn, logits, y, scale, db):
        """As :meth:`NumpyOps.direction`, in one pass."""
        t = logits.dtype.type
        n = logits.shape[0]
        return self.loops.xent_direction(logits, y, t(scale), t(exp_floor(logits.dtype)),
                                         db) / n

    def hidden_grad(self, dH, H, act, tmp, db):
        """As :meth:`NumpyOps.hidden_grad`, in one pass; a layer of one unit by NumPy,
        which sums a single column pairwise, not row after row."""
        if dH.shape[1] == 1 or act.name not in self.loops.ACTIVATION_CODES:
            return NumpyOps.hidden_grad(dH, H, act, tmp, db)
        self.loops.activation_grad(dH, H, self.loops.ACTIVATION_CODES[act.name], db)
        return dH


def prepare(dtype) -> None:
    """Compile (or load from Numba's cache) the selected kernels for ``dtype`` now.

    A run calls it before its first timed step, so that no epoch's time holds
    the compilation (about a second per dtype the first time, then a cache load).

    Parameters
    ----------
    dtype : numpy.dtype or str
        The run's float dtype.
    """
    if _SELECTED == "numba":
        _loops().compile_all(dtype)


def step_ops(xp):
    """The operations of the current selection for arrays of module ``xp``.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``cupy``; CuPy arrays always get :class:`NumpyOps`.

    Returns
    -------
    NumpyOps or LoopOps
    """
    if _SELECTED == "numba" and xp is np:
        return _loop_ops()
    return NumpyOps


@functools.cache
def _loop_ops() -> LoopOps:
    return LoopOps(_loops())


__all__ = ["KERNELS", "LoopOps", "NumpyOps", "default_kernels", "prepare", "present", "require",
           "selected", "step_ops", "use_kernels"]
