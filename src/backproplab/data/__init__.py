"""Data: the synthetic ellipse set, MNIST and Fashion-MNIST, splits and normalization.

:func:`load_dataset` is the one entry point the training code uses; it returns a
:class:`Dataset` whose arrays are already normalized with statistics fitted on
the training split only.
"""

from backproplab.data.dataset import DATASETS, DEFAULT_NORMALIZE, Dataset, class_names
from backproplab.data.load import load_configured, load_dataset, load_synth
from backproplab.data.normalize import Normalizer

__all__ = ["DATASETS", "DEFAULT_NORMALIZE", "Dataset", "Normalizer", "class_names", "load_configured",
           "load_dataset",
           "load_synth"]
