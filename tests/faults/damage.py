"""Ways to damage a file's bytes, as a hypothesis strategy, for the fault tests.

The number of examples per test is small by default so the tests fit in ``make
test``; set ``BACKPROPLAB_FAULT_EXAMPLES`` (e.g. 2000) for a longer search.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("BACKPROPLAB_FAULT_EXAMPLES", "40"))

#: the settings of every fault test
FAULTS = settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _truncate(draw, data: bytes) -> bytes:
    return data[:draw(st.integers(0, max(len(data) - 1, 0)))]


def _flip_bits(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for pos in draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=8)):
        out[pos] ^= 1 << draw(st.integers(0, 7))
    return bytes(out)


def _set_bytes(draw, data: bytes) -> bytes:
    """Overwrite a few bytes with extreme values (0x00, 0xFF, 0x7F, 0x80): sizes and
    counts in headers become zero or huge."""
    out = bytearray(data)
    for pos in draw(st.lists(st.integers(0, len(out) - 1), min_size=1, max_size=4)):
        width = draw(st.integers(1, 4))
        value = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        out[pos:pos + width] = bytes([value]) * width
    return bytes(out[:len(data)])


def _splice(draw, data: bytes) -> bytes:
    pos = draw(st.integers(0, len(data)))
    return data[:pos] + draw(st.binary(min_size=1, max_size=64)) + data[pos:]


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """``data`` truncated, with bits flipped, bytes set to extremes, garbage spliced in,
    or replaced by garbage altogether."""
    how = draw(st.sampled_from(["truncate", "flip", "set", "splice", "garbage"]))
    if how == "garbage" or not data:
        return draw(st.binary(max_size=256))
    return {"truncate": _truncate, "flip": _flip_bits, "set": _set_bytes,
            "splice": _splice}[how](draw, data)


def edit_checkpoint(path, edit) -> None:
    """Rewrite the checkpoint ``path`` (an .npz written by training) with
    ``edit(arrays, extra, optim)`` applied: ``extra`` and ``optim`` are its run
    information and optimizer metadata as dicts (``optim`` is ``None`` when it
    has none; set ``optim["_drop"]`` to remove it)."""
    import numpy as np

    from backproplab.tensor.files import json_array, json_load

    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    extra = json_load(arrays["extra"])
    optim = json_load(arrays["optim"]) if "optim" in arrays else None
    edit(arrays, extra, optim)
    arrays["extra"] = json_array(extra)
    if optim is not None:
        arrays["optim"] = json_array(optim)
        if optim.get("_drop"):
            del arrays["optim"]
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
