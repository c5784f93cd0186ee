"""Using a trained model: predictions on raw inputs, evaluation, export.

- :func:`load_predictor` (run folder or ``model.npz``) -> :class:`Predictor`:
  the network plus the preprocessing its training applied, and
  ``predict_proba(raw_inputs)``;
- :func:`read_input`: images (Pillow, ``backproplab[images]``), ``.npy`` and IDX files;
  :func:`input_batches` reads them a batch at a time;
- :func:`evaluate`: loss, accuracy, per-class accuracy and confusion matrix
  (:func:`confusion_matrix`);
- :func:`export`: ONNX (``backproplab[onnx]``) or a PyTorch ``state_dict``.

This layer sits above ``runs``, ``data``, ``tensor`` and ``training`` (it rebuilds
the preprocessing of an old run from its config); the study uses it.
"""

from __future__ import annotations

from backproplab.predict.evaluate import confusion_matrix, evaluate
from backproplab.predict.export import FORMATS, export, onnx_model, torch_sequential
from backproplab.predict.inputs import input_batches, read_input
from backproplab.predict.predictor import Predictor, load_predictor, run_dataset, top_k

__all__ = ["FORMATS", "Predictor", "confusion_matrix", "evaluate", "export", "input_batches",
           "load_predictor", "onnx_model", "read_input", "run_dataset", "top_k",
           "torch_sequential"]
