"""Exporting a trained network: ONNX (run under onnxruntime) and a PyTorch state_dict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backproplab.data import load_dataset, synth
from backproplab.errors import BackproplabError
from backproplab.predict import export, load_predictor, onnx_model, torch_sequential

from .conftest import FASHION_MNIST_DIR


def _raw_examples(predictor) -> np.ndarray:
    """200 raw examples of the model's dataset (validation points or pixels 0-255)."""
    if predictor.dataset == "synth":
        return synth.generate()[2][:200]
    data = load_dataset("fashion-mnist", limit=1, normalize="none", dtype=np.float64,
                        data_dir=FASHION_MNIST_DIR)
    return data.X_eval[:200]


@pytest.fixture(params=["synth", "fashion"])
def any_run(request):
    return request.getfixturevalue(f"tiny_{request.param}_run")


def test_onnx_matches_predict_proba(any_run, tmp_path, cli):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    res = cli("export", any_run, "--format", "onnx", "--out", out)
    assert res.status == 0, res.err
    assert res.out.strip() == str(out)
    pred = load_predictor(any_run)
    raw = _raw_examples(pred)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"input": pred.transform(raw).astype(np.float32)})
    np.testing.assert_allclose(probs, pred.predict_proba(raw), atol=1e-5, rtol=0)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["backproplab.preprocessing"]) == pred.preprocessing.to_dict()


def test_onnx_graph_is_matmul_add_activation_softmax(tiny_synth_run):
    pytest.importorskip("onnx")
    graph = onnx_model(load_predictor(tiny_synth_run)).graph
    assert [n.op_type for n in graph.node] == ["MatMul", "Add", "Tanh", "MatMul", "Add",
                                               "Softmax"]
    assert [i.name for i in graph.initializer] == ["W1", "b1", "W2", "b2"]


def test_torch_state_dict_loads_weights_only(any_run, tmp_path, cli):
    torch = pytest.importorskip("torch")
    out = tmp_path / "m.pt"
    assert cli("export", any_run, "--format", "torch", "--out", out).status == 0
    state = torch.load(out, weights_only=True)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    pred = load_predictor(any_run)
    net = torch_sequential(pred.model.sizes, pred.model.activation)
    net.load_state_dict(state)  # strict: the names and shapes fit exactly
    raw = _raw_examples(pred)
    with torch.no_grad():
        probs = net(torch.from_numpy(pred.transform(raw).astype(np.float32))).numpy()
    np.testing.assert_allclose(probs, pred.predict_proba(raw), atol=1e-5, rtol=0)
    side = json.loads((tmp_path / "m.preprocessing.json").read_text())
    assert side["sizes"] == pred.model.sizes
    assert side["preprocessing"] == pred.preprocessing.to_dict()


def test_default_out_is_next_to_the_model(tmp_path, tiny_synth_run):
    pytest.importorskip("onnx")
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_synth_run, run)
    written = export(load_predictor(run), "onnx")
    assert written == [run / "model.onnx"] and written[0].stat().st_size > 0


def test_unknown_format_and_folder_out(tmp_path, tiny_synth_run):
    pred = load_predictor(tiny_synth_run)
    with pytest.raises(BackproplabError, match="unknown export format"):
        export(pred, "tflite")
    with pytest.raises(BackproplabError, match="is a folder"):
        export(pred, "onnx", tmp_path)
