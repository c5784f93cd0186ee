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
"""

from __future__ import annotations

from backproplab.errors import BackproplabError
from backproplab.tensor.optim import SGD, Optimizer


def can_fuse(optimizer: Optimizer) -> bool:
    """Whether ``train_step`` may use the fused plain-SGD path for ``optimizer``."""
    return (type(optimizer) is SGD and not optimizer.weight_decay
            and getattr(optimizer, "clip_norm", None) is None)


def train_step(model, optimizer: Optimizer, X, y, check: bool = True, fused: bool | None = None) -> float:
    """Train ``model`` on one batch ``(X, y)`` with ``optimizer``; returns the batch's mean loss.

    ``check=False`` skips the scan of the batch for NaN and out-of-range labels
    (call ``model.check_inputs`` once per dataset instead); shapes are always
    checked. ``fused`` forces (True) or forbids (False) the fused SGD path;
    by default it is used whenever the optimizer is plain SGD.
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


def _update_buffers(model) -> list:
    bufs = getattr(model, "_update_bufs", None)
    if bufs is None or len(bufs) != len(model.layers):
        bufs = model._update_bufs = [model.xp.empty_like(layer.W) for layer in model.layers]
    return bufs


def _fused_sgd_step(model, lr: float, X, y) -> float:
    """Forward, backward and ``p -= lr * grad`` for every parameter, fused."""
    xp = model.xp
    n = X.shape[0]
    ws = model._workspace(n)
    logits = model._forward(X, ws)
    loss, probs = model.loss_fn.forward(logits, y, probs_out=logits)
    # dY = -lr * (probs - onehot(y)) / n: the update direction of the logits' layer
    probs[ws.rows, y] -= 1.0
    probs *= -lr / n
    dY = probs
    ups = _update_buffers(model)
    act = model.act
    for i in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[i]
        H_in = X if i == 0 else ws.out[i - 1]
        if i:  # gradient for the layer below, from the weights *before* this update
            dH = xp.matmul(dY, layer.W.T, out=ws.grad[i - 1])
        xp.matmul(H_in.T, dY, out=ups[i])
        layer.W += ups[i]
        dY.sum(axis=0, out=layer.db)
        layer.b += layer.db
        if i:
            dY = act.backward(dH, ws.out[i - 1], out=dH, tmp=ws.tmp[i - 1])
    return loss
