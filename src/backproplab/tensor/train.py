"""One training step: forward, backward and parameter update for a batch.

:func:`train_step` is what the training loop calls for every batch. With any
optimizer it is ``model.loss_and_grads(X, y)`` followed by ``optimizer.step()``.
For plain SGD (no weight decay, no gradient clipping) it takes a fused path
instead: the gradient of the logits is scaled by ``-lr`` once, so that every
backward product already
*is* the update, and each weight matrix gets it added in place without a
separate gradient array pass. The fused path gives the same results as the
plain one up to float rounding (a test checks it), and leaves ``model.grads``
unspecified; call ``loss_and_grads`` when you need the gradients themselves.

On the CPU the weight update is one BLAS call (gemm with beta = 1 into the
weights, through :mod:`backproplab.tensor.blas`: NumPy's own OpenBLAS, or with
``mkl`` selected MKL, which then computes every product of the step), and a
step on more than :data:`FUSED_CHUNK_ROWS` examples (a full batch) runs in
chunks, so that its buffers stay small. The elementwise work between the
products (biases, activation, softmax cross-entropy, column sums) is done by the
kernels selected in :mod:`backproplab.tensor.kernels`: NumPy's operations, or
with ``numba`` selected compiled loops, one pass per stage.
"""

from __future__ import annotations

import numpy as np

from backproplab.errors import BackproplabError
from backproplab.tensor import blas, kernels
from backproplab.tensor.optim import SGD, Optimizer


def fusable(optimizer: str, weight_decay: float, clip_norm: float | None) -> bool:
    """The one rule of the fused plain-SGD step: SGD without weight decay or clipping.

    Parameters
    ----------
    optimizer : str
        The optimizer's registry name (``TrainConfig.optimizer``).
    weight_decay : float
    clip_norm : float or None

    Returns
    -------
    bool
        Whether its steps take the fused path (and so the selected kernels).
    """
    return optimizer == "sgd" and not weight_decay and clip_norm is None


def can_fuse(optimizer: Optimizer) -> bool:
    """Whether ``train_step`` may use the fused plain-SGD path for ``optimizer`` (:func:`fusable`)."""
    return type(optimizer) is SGD and fusable("sgd", optimizer.weight_decay,
                                              getattr(optimizer, "clip_norm", None))


def train_step(model, optimizer: Optimizer, X, y, check: bool = True, fused: bool | None = None) -> float:
    """Train ``model`` on one batch ``(X, y)`` with ``optimizer``: forward, backward, update.

    Parameters
    ----------
    model : MLP
        Updated in place.
    optimizer : Optimizer
        Built for ``model`` (by :func:`make_optimizer`).
    X : array of shape (n, sizes[0])
        The batch's inputs.
    y : array of int, shape (n,)
        Its labels, in ``[0, sizes[-1])``.
    check : bool, default=True
        Scan the batch for NaN and out-of-range labels; ``False`` skips the scan
        (call ``model.check_inputs`` once per dataset instead). Shapes are always
        checked.
    fused : bool, optional
        Force (``True``) or forbid (``False``) the fused SGD path; by default it
        is used whenever the optimizer is plain SGD. After a fused step
        ``model.grads`` is unspecified.

    Returns
    -------
    float
        The batch's mean cross-entropy loss, before the update.

    Raises
    ------
    BackproplabError
        For an optimizer built for another model, bad inputs, or ``fused=True``
        with an optimizer the fused path cannot run.

    Examples
    --------
    >>> import numpy as np
    >>> from backproplab.tensor import MLP, make_optimizer, train_step
    >>> model = MLP([2, 4, 2], seed=0)
    >>> opt = make_optimizer("sgd", model, lr=0.5)
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); y = np.array([0, 1])
    >>> first = train_step(model, opt, X, y)
    >>> losses = [train_step(model, opt, X, y) for _ in range(20)]
    >>> losses[-1] < first
    True
    """
    if optimizer.model is not model:
        raise BackproplabError("the optimizer was built for another model; build it for this one")
    X, y = model.check_inputs(X, y, values=check)
    if fused is None:
        fused = can_fuse(optimizer)
    elif fused and not can_fuse(optimizer):
        raise BackproplabError(
            f"the fused path needs plain SGD without weight decay or clipping, not {optimizer!r}"
        )
    if not fused:
        loss = model.loss_and_grads(X, y, check=False)
        optimizer.step()
        return loss
    loss = _fused_sgd_step(model, optimizer.lr, X, y)
    optimizer.steps += 1
    return loss


#: A fused step on more rows than this (on the CPU) runs in chunks of this many rows:
#: the update is accumulated chunk by chunk and applied once at the end, so a
#: full-batch step needs activation buffers for one chunk, not for the whole set.
FUSED_CHUNK_ROWS = 4096


def _update_buffers(model) -> list:
    bufs = getattr(model, "_update_bufs", None)
    if bufs is None or len(bufs) != len(model.layers):
        bufs = model._update_bufs = [model.xp.empty_like(layer.W) for layer in model.layers]
    return bufs


#: Weight matrices with at least this many entries get their update by a direct
#: gemm call; for smaller ones NumPy's matmul and an add cost less than the call.
DIRECT_GEMM_MIN_SIZE = 16384


def _add_product(xp, A, dY, C, buf, first: bool = False) -> None:
    """``C += A.T @ dY`` (``C = A.T @ dY`` when ``first``): one BLAS call where it pays.

    The direct call (:mod:`backproplab.tensor.blas`, gemm with beta = 1) reads
    and writes ``C`` once; otherwise the product goes into ``buf`` and is added.
    :func:`backproplab.tensor.blas.gemm` decides whether a ``C`` smaller than
    :data:`DIRECT_GEMM_MIN_SIZE` still takes the call (with ``mkl`` every one does).
    """
    if xp is np and blas.gemm(A, dY, C, 1.0, 0.0 if first else 1.0, trans_a=True,
                              min_size=DIRECT_GEMM_MIN_SIZE):
        return
    if first:
        xp.matmul(A.T, dY, out=C)
    else:
        xp.matmul(A.T, dY, out=buf)
        C += buf


def _backward_update(model, X, ws, dY, ops, targets, bufs, first: bool = False) -> None:
    """From the scaled logits' gradient ``dY`` (its column sums already in the last
    layer's ``db``): add every layer's weight update into ``targets[i]`` (``bufs[i]``:
    scratch of its shape) and fill the ``db`` of the layers below.

    Each layer's gradient for the layer below is taken from its weights before
    their update. ``first``: write the updates instead of adding them (chunks).
    """
    xp = model.xp
    for i in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[i]
        H_in = X if i == 0 else ws.out[i - 1]
        if i:  # gradient for the layer below, from the weights *before* this update
            dH = blas.matmul(xp, dY, layer.W, out=ws.grad[i - 1], trans_b=True)
        _add_product(xp, H_in, dY, targets[i], bufs[i], first=first)
        if i:
            dY = ops.hidden_grad(dH, ws.out[i - 1], model.act, ws.tmp[i - 1],
                                 model.layers[i - 1].db)


def _fused_sgd_step(model, lr: float, X, y) -> float:
    """Forward, backward and ``p -= lr * grad`` for every parameter, fused."""
    xp = model.xp
    n = X.shape[0]
    if xp is np and n > FUSED_CHUNK_ROWS:
        return _fused_sgd_step_chunked(model, lr, X, y, FUSED_CHUNK_ROWS)
    ops = kernels.step_ops(xp)
    ws = model._workspace(n)
    logits = model._forward(X, ws, ops)
    # dY = -lr * (probs - onehot(y)) / n: the update direction of the logits' layer
    loss = ops.direction(model.loss_fn, logits, y, -lr / n, model.layers[-1].db)
    _backward_update(model, X, ws, logits, ops, [layer.W for layer in model.layers],
                     _update_buffers(model))
    for layer in model.layers:
        layer.b += layer.db
    return loss


def _fused_sgd_step_chunked(model, lr: float, X, y, rows: int) -> float:
    """The fused step over ``rows`` examples at a time, the update applied once at the end.

    Every chunk's forward and backward pass sees the weights from before the
    step, so the result equals the one-pass step up to float rounding (the
    sums over examples are taken in a different order).
    """
    xp = model.xp
    n = X.shape[0]
    scale = -lr / n
    ops = kernels.step_ops(xp)
    ups = _update_buffers(model)
    db_sums = [xp.zeros_like(layer.b) for layer in model.layers]
    total = 0.0
    for s in range(0, n, rows):
        Xc, yc = X[s:s + rows], y[s:s + rows]
        k = Xc.shape[0]
        ws = model._workspace(k)
        logits = model._forward(Xc, ws, ops)
        total += ops.direction(model.loss_fn, logits, yc, scale, model.layers[-1].db) * k
        _backward_update(model, Xc, ws, logits, ops, ups, [layer.dW for layer in model.layers],
                         first=s == 0)
        for sums, layer in zip(db_sums, model.layers):
            sums += layer.db
    for layer, up, sums in zip(model.layers, ups, db_sums):
        layer.W += up
        layer.b += sums
    return total / n
