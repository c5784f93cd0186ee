"""Optimizers that update a model's parameters in place, with PyTorch's update rules.

In order of increasing state:

* :class:`SGD` -- ``p -= lr * g`` (``torch.optim.SGD``);
* :class:`Momentum` -- heavy-ball or Nesterov momentum (``torch.optim.SGD`` with
  ``momentum``/``nesterov``): the buffer starts as the first gradient, then
  ``buf = momentum * buf + (1 - dampening) * g``;
* :class:`Adam` -- ``torch.optim.Adam`` (bias-corrected moments, ``eps`` added
  after the square root is bias-corrected).

Options every optimizer takes:

* ``weight_decay`` -- L2 weight decay: ``weight_decay * p`` is added to the
  gradient of every *weight* matrix (``W1, W2, ...``) before the update, which
  with plain SGD equals adding ``(weight_decay / 2) * sum ||W||^2`` to the loss.
  Biases are not decayed unless ``decay_biases=True`` (then every parameter is,
  as with one PyTorch parameter group).
* ``clip_norm`` -- clip the gradients by their global L2 norm over all
  parameters before each update, like ``torch.nn.utils.clip_grad_norm_`` (see
  :func:`clip_grad_norm`); ``None`` (default) does not clip. The norm before
  clipping is kept in ``optimizer.last_grad_norm``.

Each optimizer reads ``model.params`` and ``model.grads`` *by name* at every
step, so it never holds stale references (for example after the model's arrays
were replaced). ``state_dict()`` / ``load_state_dict()`` save and restore the
hyperparameters, the step count and every buffer exactly, so that a resumed run
continues bit for bit.
"""

from __future__ import annotations

import math

from backproplab.errors import BackproplabError


def _check_number(name: str, value, low: float = 0.0, low_open: bool = False, high=None,
                  high_open: bool = True) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise BackproplabError(f"{name} must be a number, got {value!r}") from None
    bad = not math.isfinite(value) or value < low or (low_open and value == low)
    if high is not None and (value > high or (high_open and value == high)):
        bad = True
    if bad:
        below = f" and {'<' if high_open else '<='} {high:g}" if high is not None else ""
        rng = f"{'>' if low_open else '>='} {low:g}{below}"
        raise BackproplabError(f"{name} must be a finite number {rng}, got {value!r}")
    return value


def _check_clip_norm(value) -> float | None:
    if value is None:
        return None
    return _check_number("clip_norm", value, 0.0, low_open=True)


def clip_grad_norm(grads: dict, max_norm: float, xp=None) -> float:
    """Scale the gradients in place so that their global L2 norm is at most ``max_norm``.

    The norm is taken over all arrays together, ``sqrt(sum_p ||g_p||^2)``; when it
    exceeds ``max_norm`` every gradient is multiplied by
    ``max_norm / (norm + 1e-6)``, exactly as ``torch.nn.utils.clip_grad_norm_``
    does.

    Parameters
    ----------
    grads : dict of str to array
        Scaled in place.
    max_norm : float
    xp : module, optional
        The array module (default NumPy).

    Returns
    -------
    float
        The norm before clipping; where it is ``inf`` or ``nan`` nothing is scaled
        (the training loop's divergence guard reports the run).

    Examples
    --------
    >>> import numpy as np
    >>> g = {"W1": np.array([3.0, 4.0])}
    >>> clip_grad_norm(g, 1.0), np.round(g["W1"], 6)
    (5.0, array([0.6, 0.8]))
    """
    if xp is None:
        import numpy as xp
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(xp.dot(flat, flat))
    norm = math.sqrt(total) if total >= 0 else math.nan
    if not math.isfinite(norm):
        return norm
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:  # torch multiplies by min(coef, 1): a factor of 1 changes nothing
        for g in grads.values():
            g *= coef
    return norm


class Optimizer:
    """Base class: holds the model, the learning rate, the step count and per-parameter buffers.

    Subclasses implement the update of one parameter; :meth:`step` applies it to
    every parameter of the model from its ``grads`` (after clipping them).

    Parameters
    ----------
    model : MLP
        The model whose ``params`` are updated in place.
    lr : float
        Learning rate, > 0.
    decay_biases : bool, default False
        Apply weight decay to the biases too (only to the ``W`` matrices otherwise).
    clip_norm : float, optional
        Clip the gradients to this global L2 norm before each step.

    Attributes
    ----------
    steps : int
        Steps taken.
    buffers : dict of str to dict
        Per-parameter state (``buffer_names``), by parameter name.
    last_grad_norm : float or None
        The gradients' norm before clipping at the last step (``clip_norm`` set only).

    Raises
    ------
    BackproplabError
        For a non-finite or non-positive ``lr`` or ``clip_norm``.
    """

    #: registry name
    name = "optimizer"
    #: names of the per-parameter buffers this optimizer keeps
    buffer_names: tuple = ()

    def __init__(self, model, lr: float, decay_biases: bool = False, clip_norm: float | None = None):
        self.model = model
        self.lr = _check_number("learning rate", lr, 0.0, low_open=True)
        self.decay_biases = bool(decay_biases)
        self.clip_norm = _check_clip_norm(clip_norm)
        #: the global gradient norm before clipping at the last step (``clip_norm`` set only)
        self.last_grad_norm: float | None = None
        self.steps = 0
        self.buffers: dict[str, dict] = {b: {} for b in self.buffer_names}
        self._scratch: dict[str, object] = {}

    # hyperparameters other than lr (subclasses extend)
    def hyperparameters(self) -> dict:
        """The optimizer's settings, as plain numbers (saved with its state)."""
        return {"lr": self.lr, **self._common_hyper()}

    def _common_hyper(self) -> dict:
        return {"decay_biases": self.decay_biases, "clip_norm": self.clip_norm}

    def _tmp(self, name, like):
        buf = self._scratch.get(name)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self.model.xp.empty_like(like)
            self._scratch[name] = buf
        return buf

    def step(self) -> None:
        """Update every parameter in place from ``model.grads``."""
        self.steps += 1
        params, grads = self.model.params, self.model.grads
        if self.clip_norm is not None:
            self.last_grad_norm = clip_grad_norm(grads, self.clip_norm, self.model.xp)
        for name, p in params.items():
            self._update(name, p, grads[name])

    def _update(self, name, p, g) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decayed(self, name, p, g, weight_decay):
        """``g + weight_decay * p`` (the L2 penalty's gradient) for a weight matrix, or
        ``g`` itself when the decay is 0 or ``name`` is a bias (unless ``decay_biases``)."""
        if not weight_decay or (not self.decay_biases and not name.startswith("W")):
            return g
        d = self._tmp(name + "/decayed", p)
        self.model.xp.multiply(p, weight_decay, out=d)
        d += g
        return d

    def state_dict(self) -> dict:
        """Everything needed to resume: name, hyperparameters, step count, buffers (copied)."""
        return {
            "name": self.name,
            "hyper": self.hyperparameters(),
            "steps": self.steps,
            "buffers": {b: {k: v.copy() for k, v in bufs.items()} for b, bufs in self.buffers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (hyperparameters, step count and buffers).

        Raises
        ------
        BackproplabError
            When the state is another optimizer's, its step count is not a whole
            number of at least 0, a buffer does not fit the model, or a buffer
            that every step fills is missing after steps were taken.
        """
        if state.get("name") != self.name:
            raise BackproplabError(
                f"optimizer state is for {state.get('name')!r}, not {self.name!r}; "
                f"build the optimizer named in the checkpoint"
            )
        steps = state.get("steps", 0)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise BackproplabError(
                f"optimizer state has the step count {steps!r}, not a whole number of at least "
                "0; use a checkpoint that backproplab wrote")
        for key, value in state.get("hyper", {}).items():
            self._set_hyper(key, value)
        self.steps = steps
        params = self.model.params
        xp = self.model.xp
        buffers = {b: {} for b in self.buffer_names}
        for b, bufs in state.get("buffers", {}).items():
            if b not in buffers:
                raise BackproplabError(f"optimizer state has an unknown buffer {b!r} for {self.name}")
            for k, v in bufs.items():
                if k not in params or tuple(v.shape) != tuple(params[k].shape):
                    raise BackproplabError(
                        f"optimizer state buffer {b}/{k} does not fit the model; "
                        f"load the checkpoint's own model with it"
                    )
                buffers[b][k] = xp.array(v, dtype=params[k].dtype, copy=True)
        # every step fills every buffer of every parameter: a state after steps without
        # them would continue as a different optimizer
        missing = [f"{b}/{k}" for b in self.buffer_names for k in params
                   if steps and k not in buffers[b]]
        if missing:
            raise BackproplabError(
                f"optimizer state after {steps} steps of {self.name} lacks the buffers "
                f"{', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}; use a "
                "complete checkpoint")
        self.buffers = buffers

    def _set_hyper(self, key, value) -> None:
        if key == "lr":
            self.lr = _check_number("learning rate", value, 0.0, low_open=True)
        elif key in ("nesterov", "decay_biases"):
            setattr(self, key, bool(value))
        elif key == "clip_norm":
            self.clip_norm = _check_clip_norm(value)
        elif hasattr(self, key):
            setattr(self, key, float(value))
        else:
            raise BackproplabError(f"optimizer state has an unknown setting {key!r} for {self.name}")

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hp})"


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p -= lr * (g + weight_decay * p)``.

    Parameters
    ----------
    model : MLP
    lr : float
        Learning rate, > 0.
    weight_decay : float, default 0.0
        L2 penalty coefficient, >= 0.
    decay_biases, clip_norm
        As :class:`Optimizer`.

    Raises
    ------
    BackproplabError
        For an out-of-range setting.

    Examples
    --------
    >>> from backproplab.tensor import MLP
    >>> model = MLP([2, 3, 2], seed=0)
    >>> SGD(model, lr=0.1).hyperparameters()
    {'lr': 0.1, 'weight_decay': 0.0, 'decay_biases': False, 'clip_norm': None}
    """

    name = "sgd"

    def __init__(self, model, lr: float, weight_decay: float = 0.0, decay_biases: bool = False,
                 clip_norm: float | None = None):
        super().__init__(model, lr, decay_biases=decay_biases, clip_norm=clip_norm)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay, **self._common_hyper()}

    def _update(self, name, p, g) -> None:
        d = self._decayed(name, p, g, self.weight_decay)
        t = self._tmp(name, p)
        self.model.xp.multiply(d, self.lr, out=t)
        p -= t


class Momentum(Optimizer):
    """SGD with momentum, optionally Nesterov's, exactly as ``torch.optim.SGD``.

    Parameters
    ----------
    model : MLP
    lr : float
        Learning rate, > 0.
    momentum : float, default 0.9
        In (0, 1].
    nesterov : bool, default False
        Nesterov's momentum (its ``name`` is then ``"nesterov"``).
    dampening : float, default 0.0
        In [0, 1]; must be 0 with ``nesterov``.
    weight_decay : float, default 0.0
        L2 penalty coefficient, >= 0.
    decay_biases, clip_norm
        As :class:`Optimizer`.

    Raises
    ------
    BackproplabError
        For an out-of-range setting, or Nesterov momentum with dampening.
    """

    name = "momentum"
    buffer_names = ("momentum_buffer",)

    def __init__(self, model, lr: float, momentum: float = 0.9, nesterov: bool = False,
                 dampening: float = 0.0, weight_decay: float = 0.0, decay_biases: bool = False,
                 clip_norm: float | None = None):
        super().__init__(model, lr, decay_biases=decay_biases, clip_norm=clip_norm)
        self.momentum = _check_number("momentum", momentum, 0.0, low_open=True, high=1.0,
                                      high_open=False)
        self.dampening = _check_number("dampening", dampening, 0.0, high=1.0, high_open=False)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.dampening:
            raise BackproplabError("Nesterov momentum needs dampening 0; drop the dampening option")
        if self.nesterov:
            self.name = "nesterov"

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "dampening": self.dampening, "weight_decay": self.weight_decay,
                **self._common_hyper()}

    def _update(self, name, p, g) -> None:
        xp = self.model.xp
        d = self._decayed(name, p, g, self.weight_decay)
        bufs = self.buffers["momentum_buffer"]
        buf = bufs.get(name)
        if buf is None:
            buf = bufs[name] = d.copy()  # PyTorch: the first buffer is the gradient itself
        else:
            buf *= self.momentum
            if self.dampening:
                t = self._tmp(name, p)
                xp.multiply(d, 1.0 - self.dampening, out=t)
                buf += t
            else:
                buf += d
        t = self._tmp(name, p)
        if self.nesterov:
            xp.multiply(buf, self.momentum, out=t)
            t += d
            t *= self.lr
        else:
            xp.multiply(buf, self.lr, out=t)
        p -= t


class Adam(Optimizer):
    """Adam (Kingma & Ba), exactly as ``torch.optim.Adam`` with ``amsgrad=False``.

    Parameters
    ----------
    model : MLP
    lr : float, default 0.001
        Learning rate, > 0.
    beta1, beta2 : float, default 0.9 and 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 0.0
        L2 penalty coefficient, >= 0 (added to the gradient, not decoupled).
    decay_biases, clip_norm
        As :class:`Optimizer`.

    Raises
    ------
    BackproplabError
        For an out-of-range setting.
    """

    name = "adam"
    buffer_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, model, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decay_biases: bool = False,
                 clip_norm: float | None = None):
        super().__init__(model, lr, decay_biases=decay_biases, clip_norm=clip_norm)
        self.beta1 = _check_number("beta1", beta1, 0.0, high=1.0)
        self.beta2 = _check_number("beta2", beta2, 0.0, high=1.0)
        self.eps = _check_number("eps", eps, 0.0)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def hyperparameters(self) -> dict:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "weight_decay": self.weight_decay, **self._common_hyper()}

    def _update(self, name, p, g) -> None:
        xp = self.model.xp
        d = self._decayed(name, p, g, self.weight_decay)
        m = self.buffers["exp_avg"].get(name)
        if m is None:
            m = self.buffers["exp_avg"][name] = xp.zeros_like(p)
            self.buffers["exp_avg_sq"][name] = xp.zeros_like(p)
        v = self.buffers["exp_avg_sq"][name]
        t = self._tmp(name, p)
        # m = beta1 * m + (1 - beta1) * g
        m *= self.beta1
        xp.multiply(d, 1.0 - self.beta1, out=t)
        m += t
        # v = beta2 * v + (1 - beta2) * g^2
        v *= self.beta2
        xp.multiply(d, d, out=t)
        t *= 1.0 - self.beta2
        v += t
        # p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        step_size = self.lr / (1.0 - self.beta1 ** self.steps)
        bc2_sqrt = math.sqrt(1.0 - self.beta2 ** self.steps)
        xp.sqrt(v, out=t)
        t /= bc2_sqrt
        t += self.eps
        xp.divide(m, t, out=t)
        t *= step_size
        p -= t


#: Optimizers by name (the CLI's ``--optimizer`` choices).
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Momentum, "adam": Adam}


def make_optimizer(name: str, model, lr: float, **options) -> Optimizer:
    """Build the optimizer called ``name`` for ``model`` with learning rate ``lr``.

    Parameters
    ----------
    name : {"sgd", "momentum", "nesterov", "adam"}
        The update rule (PyTorch's, see the module docstring).
    model : MLP
        The model whose ``params`` / ``grads`` the optimizer reads by name.
    lr : float
        The learning rate (``optimizer.lr``; schedules change it between epochs).
    **options
        The optimizer's settings: ``weight_decay``, ``decay_biases`` and
        ``clip_norm`` (all), ``momentum`` and ``dampening`` (momentum),
        ``momentum`` (nesterov), ``beta1``, ``beta2``, ``eps`` (adam).

    Returns
    -------
    Optimizer
        With ``step()``, ``state_dict()`` and ``load_state_dict(state)``.

    Raises
    ------
    BackproplabError
        For an unknown name or a setting the optimizer does not take (the
        message lists the valid ones).

    Examples
    --------
    >>> import numpy as np
    >>> from backproplab.tensor import MLP, make_optimizer
    >>> model = MLP([2, 4, 2], seed=0)
    >>> opt = make_optimizer("momentum", model, lr=0.1, momentum=0.5)
    >>> before = model.params["W1"].copy()
    >>> loss = model.loss_and_grads(np.ones((3, 2)), np.array([0, 1, 1]))
    >>> opt.step()
    >>> bool(np.allclose(model.params["W1"], before - 0.1 * model.grads["W1"]))
    True
    >>> make_optimizer("adam", model, lr=0.1, momentum=0.9)
    Traceback (most recent call last):
    ...
    backproplab.errors.BackproplabError: unknown option(s) momentum for optimizer 'adam'; valid: beta1, beta2, eps, weight_decay, decay_biases, clip_norm
    """
    if name not in OPTIMIZERS:
        raise BackproplabError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    import inspect

    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "model", "lr")]
    if name == "nesterov":
        allowed.remove("nesterov")
        allowed.remove("dampening")
        options = {**options, "nesterov": True}
    elif name == "momentum":
        allowed.remove("nesterov")
        if options.get("nesterov"):
            raise BackproplabError("for Nesterov momentum use the optimizer name 'nesterov'")
    unknown = sorted(set(options) - set(allowed) - ({"nesterov"} if name == "nesterov" else set()))
    if unknown:
        raise BackproplabError(
            f"unknown option(s) {', '.join(unknown)} for optimizer {name!r}; "
            f"valid: {', '.join(allowed) or 'none'}"
        )
    return cls(model, lr, **options)


def optimizer_from_state(model, state: dict) -> Optimizer:
    """Rebuild the optimizer described by ``state`` for ``model``.

    Parameters
    ----------
    model : MLP
        The model it will update (with the parameters the state was saved with).
    state : dict
        From :meth:`Optimizer.state_dict`: its name, hyperparameters, step count
        and buffers.

    Returns
    -------
    Optimizer
        Of the saved kind, its buffers loaded.

    Raises
    ------
    BackproplabError
        When ``state`` names an unknown optimizer.

    Examples
    --------
    >>> from backproplab.tensor import MLP, make_optimizer
    >>> model = MLP([2, 3, 2], seed=0)
    >>> opt = make_optimizer("adam", model, 0.01)
    >>> optimizer_from_state(model, opt.state_dict()).hyperparameters() == opt.hyperparameters()
    True
    """
    hyper = dict(state.get("hyper", {}))
    name = state.get("name")
    if name not in OPTIMIZERS:
        raise BackproplabError(f"optimizer state names an unknown optimizer {name!r}")
    lr = hyper.pop("lr", 0.01)
    if name == "nesterov":
        hyper.pop("nesterov", None)
        hyper.pop("dampening", None)
    elif name == "momentum":
        hyper.pop("nesterov", None)
    opt = make_optimizer(name, model, lr, **hyper)
    opt.load_state_dict(state)
    return opt


__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Momentum",
    "Optimizer",
    "clip_grad_norm",
    "make_optimizer",
    "optimizer_from_state",
]
