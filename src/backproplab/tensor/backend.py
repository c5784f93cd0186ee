"""Array-module indirection: the tensor engine runs on NumPy ("cpu") or CuPy ("gpu").

Every array operation in the engine goes through ``model.xp``, the module returned
by :func:`get_array_module`, so a GPU backend needs no second engine. NumPy is
the tested path; CuPy is used only where it is installed and asked for.
"""

from __future__ import annotations

import numpy as np

from backproplab.errors import BackproplabError, import_optional

#: Devices known by name (the CLI's ``--device`` choices).
DEVICES = ("cpu", "gpu")


def get_array_module(device: str = "cpu"):
    """The array module for ``device``: NumPy for ``"cpu"``, CuPy for ``"gpu"``.

    Parameters
    ----------
    device : {"cpu", "gpu"}, default "cpu"

    Returns
    -------
    module
        ``numpy``, or ``cupy`` once a CUDA device is found.

    Raises
    ------
    BackproplabError
        For an unknown device, or ``"gpu"`` without CuPy or without a CUDA device.

    Examples
    --------
    >>> get_array_module("cpu").__name__
    'numpy'
    """
    if device == "cpu":
        return np
    if device == "gpu":
        cupy = import_optional("cupy", package="CuPy", extra="gpu", needed_by='device "gpu"')
        try:  # CuPy imports without a driver or a device; fail here, not mid-run
            count, why = int(cupy.cuda.runtime.getDeviceCount()), "no CUDA device"
        except Exception as exc:  # noqa: BLE001 - CUDARuntimeError, no driver library, ...
            count, why = 0, f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        if count < 1:
            raise BackproplabError(
                f'device "gpu" needs a CUDA GPU, and CuPy finds none ({why}); '
                "use device='cpu' on this machine")
        return cupy
    raise BackproplabError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")


def to_numpy(array) -> np.ndarray:
    """Return ``array`` as a NumPy array (copies from the GPU when it lives there)."""
    if isinstance(array, np.ndarray):
        return array
    get = getattr(array, "get", None)  # cupy.ndarray
    if get is not None:
        return get()
    return np.asarray(array)
