"""``backproplab gradcheck`` with the tensor engine."""


def test_gradcheck_tensor_passes(cli):
    r = cli("gradcheck", "--engine", "tensor", "--json")
    assert r.status == 0, r.err
    result = r.json()
    assert result["passed"]
    (tensor,) = result["engines"]
    assert tensor["engine"] == "tensor" and tensor["max_rel_error"] <= 1e-6
    assert "sigmoid" in r.out and "relu" in r.out and "tanh" in r.out


def test_gradcheck_both(cli):
    r = cli("gradcheck", "--engine", "both", "--json")
    assert r.status == 0, r.err
    assert [e["engine"] for e in r.json()["engines"]] == ["scalar", "tensor"]


def test_gradcheck_fails_with_exit_1_when_tolerance_is_impossible(cli):
    r = cli("gradcheck", "--engine", "tensor", "--tol", "1e-14")
    assert r.status == 1
    assert "FAIL" in r.out


def test_gradcheck_bad_eps_is_exit_2(cli):
    r = cli("gradcheck", "--engine", "tensor", "--eps", "-1")
    assert r.status == 2
    assert "--eps must be a positive number" in r.err


def test_negative_seed_is_exit_2_for_every_engine(cli):
    # NumPy's generators refuse negative seeds: this used to end in a ValueError traceback
    for engine in ("tensor", "scalar", "both"):
        r = cli("gradcheck", "--engine", engine, "--seed", "-1")
        assert r.status == 2, (engine, r.err)
        assert "--seed must be an integer >= 0, got '-1'" in r.err and r.out == ""
