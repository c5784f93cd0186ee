"""Data: the synthetic ellipse set, MNIST and Fashion-MNIST, splits and normalization.

:func:`load_dataset` is the one entry point the training code uses; it returns a
:class:`Dataset` whose arrays are already normalized with statistics fitted on
the training split only.
"""

from backproplab.data.dataset import (
    CLASS_NAMES,
    DATASETS,
    DEFAULT_NORMALIZE,
    FASHION_CLASSES,
    Dataset,
)
from backproplab.data.load import load_dataset, load_synth
from backproplab.data.normalize import Normalizer

__all__ = ["CLASS_NAMES", "DATASETS", "DEFAULT_NORMALIZE", "FASHION_CLASSES", "Dataset",
           "Normalizer", "load_dataset", "load_synth"]
