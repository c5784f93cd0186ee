"""Exporting a trained network to ONNX and to a PyTorch ``state_dict``.

Both exports hold the network only, in float32: their input is the
*preprocessed* example (``Predictor.transform``: flattened and normalized as in
training), their output the class probabilities (softmax). The preprocessing
travels with them: in the ONNX file's metadata (key
``backproplab.preprocessing``, JSON) and, for PyTorch, in a JSON file next to
the ``.pt`` (:data:`PREPROCESSING_SUFFIX`).

ONNX graph (opset 17), input ``input`` (N x n_inputs), output ``probabilities``::

    h1 = act(input @ W1 + b1); ...; probabilities = Softmax(h_{L-1} @ WL + bL, axis=1)

(nodes ``MatMul``, ``Add``, ``Sigmoid``/``Relu``/``Tanh``, ``Softmax``; initializers
``W1, b1, ...``).

PyTorch: :func:`torch_sequential` builds the equivalent ``nn.Sequential``:
``Linear, Act, Linear, Act, ..., Linear, Softmax(dim=1)``, so the linear layers
sit at indices 0, 2, 4, ... and the state_dict keys are ``"0.weight"`` (shape
out x in, i.e. ``W1.T``), ``"0.bias"``, ``"2.weight"``, ``"2.bias"``, ... It is
written with ``torch.save`` (tensors only) and loads with
``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from backproplab.errors import BackproplabError, import_optional
from backproplab.fileio import atomic_write_bytes, atomic_write_json, atomic_write_with
from backproplab.predict.predictor import Predictor

#: Export formats.
FORMATS = ("onnx", "torch")
#: File name endings of the exports.
SUFFIXES = {"onnx": ".onnx", "torch": ".pt"}
#: The JSON file written next to a PyTorch export: ``model.pt`` -> ``model.preprocessing.json``.
PREPROCESSING_SUFFIX = ".preprocessing.json"
#: ONNX operator set of the graph.
ONNX_OPSET = 17
#: Activations by backproplab name: ONNX operator, torch.nn class name.
ACTIVATION_OPS = {"sigmoid": ("Sigmoid", "Sigmoid"), "relu": ("Relu", "ReLU"),
                  "tanh": ("Tanh", "Tanh")}


def _optional(module: str, extra: str):
    return import_optional(module, package=module.split(".")[0], extra=extra,
                           needed_by="this export")


def _layers(predictor: Predictor) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` of every layer as float32 NumPy arrays (W: fan_in x fan_out)."""
    params = predictor.model.params
    n = len(predictor.model.layers)
    return [(np.asarray(params[f"W{i}"], dtype=np.float32),
             np.asarray(params[f"b{i}"], dtype=np.float32)) for i in range(1, n + 1)]


def _activation(predictor: Predictor) -> tuple[str, str]:
    name = predictor.model.activation
    if name not in ACTIVATION_OPS:
        raise BackproplabError(f"cannot export the activation {name!r}; export supports "
                               f"{', '.join(ACTIVATION_OPS)}")
    return ACTIVATION_OPS[name]


def onnx_model(predictor: Predictor):
    """The network as an ``onnx.ModelProto``, checked with ``onnx.checker``.

    MatMul and Add per layer, the activation between layers, Softmax at the
    end; float32 input ``(N, n_features)``, the preprocessed features. The
    preprocessing and the class names are in the model's metadata.

    Parameters
    ----------
    predictor : Predictor
        The trained model with its preprocessing.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    BackproplabError
        If the ``onnx`` extra is not installed, or the activation has no ONNX
        operator.
    """
    onnx = _optional("onnx", "onnx")
    from onnx import TensorProto, helper, numpy_helper

    op, _ = _activation(predictor)
    layers = _layers(predictor)
    nodes, inits, h = [], [], "input"
    for i, (W, b) in enumerate(layers, start=1):
        inits += [numpy_helper.from_array(W, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("MatMul", [h, f"W{i}"], [f"matmul{i}"]),
                  helper.make_node("Add", [f"matmul{i}", f"b{i}"], [f"linear{i}"])]
        h = f"linear{i}"
        if i < len(layers):
            nodes.append(helper.make_node(op, [h], [f"hidden{i}"]))
            h = f"hidden{i}"
    nodes.append(helper.make_node("Softmax", [h], ["probabilities"], axis=1))
    sizes = predictor.model.sizes
    graph = helper.make_graph(
        nodes, "backproplab_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", sizes[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", sizes[-1]])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="backproplab",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = 8  # readable by every onnxruntime of the last years
    helper.set_model_props(model, {
        "backproplab.preprocessing": json.dumps(predictor.preprocessing.to_dict()),
        "backproplab.classes": json.dumps(list(predictor.classes))})
    onnx.checker.check_model(model)
    return model


def torch_sequential(sizes, activation: str):
    """The ``torch.nn.Sequential`` a PyTorch export loads into (float32).

    ``Linear`` layers with the activation between them and ``Softmax(dim=1)`` at
    the end, so the state_dict's keys are ``0.weight``, ``0.bias``,
    ``2.weight`` ...

    Parameters
    ----------
    sizes : sequence of int
        The layer sizes, inputs first.
    activation : str
        The hidden layers' activation.

    Returns
    -------
    torch.nn.Sequential

    Raises
    ------
    BackproplabError
        If PyTorch is not installed, or the activation has no PyTorch module.
    """
    nn = _optional("torch.nn", "reference")
    if activation not in ACTIVATION_OPS:
        raise BackproplabError(f"no PyTorch equivalent for activation {activation!r}")
    act = getattr(nn, ACTIVATION_OPS[activation][1])
    modules = []
    for i in range(len(sizes) - 1):
        modules.append(nn.Linear(int(sizes[i]), int(sizes[i + 1])))
        modules.append(act() if i < len(sizes) - 2 else nn.Softmax(dim=1))
    return nn.Sequential(*modules)


def _torch_state_dict(predictor: Predictor) -> dict:
    """The state_dict of :func:`torch_sequential` holding the model's weights."""
    torch = _optional("torch", "reference")
    _activation(predictor)
    return {key: torch.from_numpy(np.ascontiguousarray(value))
            for i, (W, b) in enumerate(_layers(predictor))
            for key, value in ((f"{2 * i}.weight", W.T), (f"{2 * i}.bias", b))}


def export(predictor: Predictor, fmt: str, out: str | os.PathLike | None = None) -> list[Path]:
    """Write the export of ``predictor`` in format ``fmt``.

    Parameters
    ----------
    predictor : Predictor
        The trained model with its preprocessing.
    fmt : {"onnx", "torch"}
        ONNX, or a PyTorch state_dict for :func:`torch_sequential` (then also
        ``NAME.preprocessing.json`` beside it: activation, sizes and
        preprocessing).
    out : str, os.PathLike or None, default None
        The file; ``None``: the model file's name with the format's suffix
        (``model.onnx``, ``model.pt``) next to it.

    Returns
    -------
    list of pathlib.Path
        The files written (atomically).

    Raises
    ------
    BackproplabError
        For an unknown format, an ``out`` that is a folder, a missing extra
        (``onnx``, ``reference``) or an activation without an equivalent.
    """
    if fmt not in FORMATS:
        raise BackproplabError(f"unknown export format {fmt!r}; choose one of "
                               f"{', '.join(FORMATS)}", settings=("format",))
    path = Path(out) if out is not None else predictor.source.with_suffix(SUFFIXES[fmt])
    if path.is_dir():
        raise BackproplabError(f"{path} is a folder; give a file name for the export",
                               settings=("out",))
    if fmt == "onnx":
        return [atomic_write_bytes(path, onnx_model(predictor).SerializeToString())]
    torch = _optional("torch", "reference")
    state = _torch_state_dict(predictor)
    written = [atomic_write_with(path, lambda fh: torch.save(state, fh))]
    side = path.with_name(path.stem + PREPROCESSING_SUFFIX)
    record = {"activation": predictor.model.activation, "sizes": list(predictor.model.sizes),
              "preprocessing": predictor.preprocessing.to_dict()}
    written.append(atomic_write_json(side, record))
    return written


__all__ = ["FORMATS", "PREPROCESSING_SUFFIX", "export", "onnx_model", "torch_sequential"]
