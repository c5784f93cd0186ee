"""MLPClassifier gives the same fitted estimators, bit for bit, as the code before it
trained through ``training.fit`` (tests/sklearn_identity.py holds the cases and how the
fingerprints are made)."""

import json

import pytest

pytest.importorskip("sklearn")

from tests.sklearn_identity import CASES, FIXTURE, fingerprint, run_case

EXPECTED = json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_fitted_estimator_is_bit_identical_to_the_baseline(tmp_path, name):
    assert fingerprint(*run_case(name, tmp_path)) == EXPECTED[name]
