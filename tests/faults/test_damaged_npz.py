"""Damaged model and checkpoint files (truncated, bit-flipped, garbage) give
BackproplabError and nothing else, however the zip, .npy headers or JSON are hit."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tests.faults.damage import FAULTS, damaged

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP, load_checkpoint, make_optimizer, train_step


def _tensor_checkpoint(tmp) -> bytes:
    model = MLP([3, 4, 2], seed=0)
    opt = make_optimizer("adam", model, 0.01)
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    train_step(model, opt, X, np.array([0, 1]))
    model.save(tmp / "c.npz", optimizer=opt, extra={"epoch": 1, "note": [1.5, None]})
    return (tmp / "c.npz").read_bytes()


def _scalar_engine_file() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, W1=np.ones((2, 3)), b1=np.zeros(3), W2=np.ones((3, 2)), b2=np.zeros(2),
             extra=np.array('{"epoch": 2}'))
    return buf.getvalue()


def _compressed_model(tmp) -> bytes:
    path = MLP([3, 4, 2], seed=1).save(tmp / "m.npz")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # deflated members: another set of failure paths
    return buf.getvalue()


@FAULTS
@given(kind=st.sampled_from(["tensor", "scalar", "compressed"]), data=st.data())
def test_loading_a_damaged_model_file_raises_only_backproplab_error(tmp_path_factory, kind,
                                                                    data):
    tmp = tmp_path_factory.mktemp("npz")
    good = {"tensor": lambda: _tensor_checkpoint(tmp), "scalar": _scalar_engine_file,
            "compressed": lambda: _compressed_model(tmp)}[kind]()
    path = tmp / "damaged.npz"
    path.write_bytes(data.draw(damaged(good)))
    try:
        model, _state, extra = load_checkpoint(path)
    except BackproplabError:
        return
    assert isinstance(model, MLP) and isinstance(extra, (dict, list, str, int, float, type(None)))


def _members(good: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rezip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@FAULTS
@given(kind=st.sampled_from(["tensor", "scalar"]), data=st.data())
def test_a_damaged_array_inside_an_intact_zip_raises_only_backproplab_error(
        tmp_path_factory, kind, data):
    """The zip's CRCs catch most damage to the whole file; here one member (an array's
    .npy header and data, the JSON metadata, the optimizer state) is damaged and the
    zip rebuilt around it, so the checks behind the CRCs are reached."""
    tmp = tmp_path_factory.mktemp("npz")
    members = _members(_tensor_checkpoint(tmp) if kind == "tensor" else _scalar_engine_file())
    name = data.draw(st.sampled_from(sorted(members)))
    members[name] = data.draw(damaged(members[name]))
    path = tmp / "damaged.npz"
    path.write_bytes(_rezip(members))
    try:
        load_checkpoint(path)
    except BackproplabError:
        pass
