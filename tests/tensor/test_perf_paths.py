"""Memory-saving paths of the engine keep their checks exact."""

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.tensor import MLP


@pytest.mark.parametrize("row", [0, 8191, 8192, 20_000])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_found_in_every_block_of_rows(row, bad):
    model = MLP([3, 4, 2], seed=0)
    X = np.zeros((20_001, 3), np.float32)
    model.check_inputs(X)  # clean: passes
    X[row, 2] = bad
    with pytest.raises(BackproplabError, match="NaN or infinite"):
        model.check_inputs(X)
