"""``backproplab bench``: the JSON it writes, its options and errors (no timing assertions)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backproplab import bench
from backproplab.bench import probes
from backproplab.bench.report import judge_targets
from backproplab.errors import BackproplabError
from backproplab.training.config import usable_cpus

ROOT = Path(__file__).resolve().parents[1]
HAVE = {m: importlib.util.find_spec(m) is not None for m in ("torch", "sklearn")}


@pytest.mark.slow
def test_quick_run_end_to_end_writes_the_documented_json(cli, tmp_path):
    out = tmp_path / "bench.json"
    r = cli("bench", "--quick", "--impl", "backproplab,numpy,torch,sklearn-float32",
            "--batch-sizes", "64,full", "--json-out", out, "--json")
    assert r.status == 0, r.err
    res = json.loads(out.read_text())
    assert res == r.json()  # the file and the --json line carry the same result
    assert res["format"] == "backproplab.bench.epoch_time" and res["version"] == 1
    impls = ["backproplab", "numpy"] + [i for i, m in (("torch", "torch"),
                                                       ("sklearn-float32", "sklearn")) if HAVE[m]]
    assert res["config"]["impls"] == impls
    assert res["config"]["batch_sizes"] == ["64", "full"]
    assert res["config"]["epochs"] == 1 and res["config"]["quick"] is True
    assert res["config"]["threads"] == usable_cpus()
    n = res["data"]["rows"]
    assert n == bench.QUICK_ROWS and res["data"]["features"] == 784
    assert res["data"]["source"] in ("fashion-mnist", "synthetic")
    assert res["flops_per_epoch"] == bench.flops_per_epoch(n)
    assert res["matmul_peak"]["gflops"] > 0 and res["matmul_peak"]["numpy"]["n"] == 256
    assert {"numpy", "backproplab"} <= set(res["libraries"])
    assert res["threads"]["direct_blas"]["enabled"] in (True, False)
    assert any(p["user_api"] == "blas" for p in res["threads"]["pools"])
    for key in ("loadavg_before", "loadavg_after", "others_during_run", "loaded_timings",
                "seconds_waited_for_quiet"):
        assert key in res["load"]
    # one row per implementation and batch size, in order
    assert [(x["impl"], x["batch_size"]) for x in res["results"]] == \
        [(i, bs) for bs in ("64", "full") for i in impls]
    for row in res["results"]:
        assert row["steps_per_epoch"] == (-(-n // 64) if row["batch_size"] == "64" else 1)
        assert len(row["epoch_seconds"]) == 1 and row["median_seconds"] > 0
        assert row["gflops"] > 0 and row["fraction_of_peak"] > 0
        assert isinstance(row["loaded"], bool)
    # ratios: backproplab against every other implementation at every batch size
    assert sorted((x["vs"], x["batch_size"]) for x in res["ratios"]) == \
        sorted((i, bs) for i in impls[1:] for bs in ("64", "full"))
    for x in res["ratios"]:
        assert x["ratio"] > 0 and x["paired_ratio"] > 0
    # peak memory of each implementation in its own process, at the full batch
    assert [(m["impl"], m["batch_size"]) for m in res["memory"]] == [(i, "full") for i in impls]
    for m in res["memory"]:
        assert "error" not in m, m
        assert m["peak_mb"] >= m["after_load_mb"] > 0
        assert m["target_mb"] == pytest.approx(1.5 * m["data_mb"] + 100, abs=0.02)
    assert res["targets"] == []  # quick runs are not judged against the targets
    assert "seconds per epoch" in r.err and "peak memory" in r.err  # tables on stderr


def test_flops_per_epoch_counts_forward_weight_and_input_gradients():
    # 2n(784*300*2 + 300*10*3): the "about 52.7 GFLOP" per epoch of 55,000 images
    assert bench.flops_per_epoch(55_000) == 52_734_000_000
    assert bench.flops_per_epoch(1, (4, 3, 2, 5)) == 2 * (4 * 3 * 2 + 3 * 2 * 3 + 2 * 5 * 3)


def test_targets_are_judged_from_the_measured_ratios():
    res = {
        "results": [{"impl": "backproplab", "batch_size": "1024", "fraction_of_peak": 0.71}],
        "ratios": [{"batch_size": "16", "vs": "torch", "ratio": 0.5},
                   {"batch_size": "128", "vs": "torch", "ratio": 0.71},
                   {"batch_size": "16", "vs": "sklearn-float64", "ratio": 0.2},
                   {"batch_size": "16", "vs": "sklearn-float32", "ratio": 0.9}],
        "memory": [{"impl": "backproplab", "batch_size": "full", "peak_mb": 300.0,
                    "target_mb": 359.0, "meets_target": True},
                   {"impl": "torch", "batch_size": "full", "peak_mb": 900.0,
                    "target_mb": 359.0, "meets_target": False}],
    }
    got = {t["target"]: t["met"] for t in judge_targets(res)}
    assert got == {
        "epoch time vs torch at batch 16": True,
        "epoch time vs torch at batch 128": False,
        "epoch time vs sklearn (float64) at batch 16": True,
        "fraction of matmul peak at batch 1024": True,
        "peak memory at batch full (MB)": True,
    }


def _tiny_result(quick: bool) -> dict:
    row = {"impl": "backproplab", "batch_size": "full", "median_seconds": 0.5, "loaded": False,
           "gflops": 10.0, "fraction_of_peak": 0.1}
    return {
        "config": {"batch_sizes": ["full"], "impls": ["backproplab"], "epochs": 1,
                   "sizes": [784, 300, 10], "activation": "sigmoid", "threads": 2,
                   "device": "cpu", "quick": quick},
        "data": {"rows": 100, "source": "synthetic", "bytes": 6e6},
        "matmul_peak": {"gflops": 100.0}, "flops_per_epoch": 5e9, "results": [row],
        "ratios": [], "targets": [], "skipped": {},
        "memory": [{"impl": "backproplab", "batch_size": "full", "after_load_mb": 120.0,
                    "training_peak_mb": 130.0, "peak_mb": 181.0, "target_mb": 109.0}],
        "load": {"loadavg_before": [0.5], "loadavg_after": [0.6], "others_during_run": 0.0},
        "machine": {"cpu": "test CPU", "cores": 2}, "libraries": {"numpy": "x"},
        "threads": {"pools": [], "direct_blas": {"enabled": True}},
    }


@pytest.mark.parametrize("quick", [True, False])
def test_memory_table_shows_the_target_only_for_full_runs(quick):
    from rich.console import Console

    console = Console(record=True, width=200)
    bench.print_report(_tiny_result(quick), console)
    line = next(x for x in console.export_text().splitlines()
                if "backproplab" in x and "181" in x)
    assert line.rstrip(" │|").endswith("109") is not quick


def test_option_parsing():
    assert bench.parse_batch_sizes("16, 128,FULL,16") == ["16", "128", "full"]
    assert bench.parse_impls("backproplab,sklearn") == \
        ["backproplab", "sklearn-float64", "sklearn-float32"]
    for bad in ("0", "-3", "big", ","):
        with pytest.raises(BackproplabError, match="batch size"):
            bench.parse_batch_sizes(bad)
    with pytest.raises(BackproplabError, match="unknown implementation 'jax'"):
        bench.parse_impls("backproplab,jax")


@pytest.mark.parametrize("args,message", [
    (("--batch-sizes", "16,0"), "batch size '0'"),
    (("--impl", "keras"), "unknown implementation"),
    (("--epochs", "two"), "--epochs must be a positive integer"),
    (("--threads", "0"), "--threads must be a positive integer"),
    (("--lr", "-1"), "--lr must be a positive finite number"),
    (("--lr", "inf"), "--lr must be a positive finite number"),
    (("--memory-batch-sizes", "1024,0"), "batch size '0' in --memory-batch-sizes"),
    (("--wait-quiet", "soon"), "--wait-quiet must be a number"),
    (("--retries", "-1"), "--retries must be an integer >= 0"),
])
def test_bad_options_give_one_sentence_and_status_2(cli, args, message):
    r = cli("bench", "--quick", "--no-memory", *args)
    assert r.status == 2
    assert message in r.err and "Traceback" not in r.err


def test_json_out_that_cannot_be_written_gives_status_2(cli, tmp_path):
    # a folder is refused before anything is timed
    r = cli("bench", "--quick", "--no-memory", "--impl", "numpy", "--json-out", tmp_path)
    assert r.status == 2 and "is a folder" in r.err and "Traceback" not in r.err
    assert "seconds per epoch" not in r.err + r.out
    # a path below a file fails when written: one sentence, status 2
    (tmp_path / "plain").write_text("x")
    r = cli("bench", "--quick", "--no-memory", "--impl", "numpy", "--batch-sizes", "full",
            "--json-out", tmp_path / "plain" / "bench.json")
    assert r.status == 2 and "cannot write --json-out" in r.err and "Traceback" not in r.err


def test_gpu_without_cupy_says_how_to_get_it(cli):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    r = cli("bench", "--quick", "--device", "gpu", "--impl", "backproplab", "--no-memory")
    assert r.status == 2
    assert "CuPy" in r.err and "backproplab[gpu]" in r.err


def test_missing_libraries_are_skipped_and_reported(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    ok, skipped = bench.available_impls(["backproplab", "torch", "numpy"])
    assert ok == ["backproplab", "numpy"]
    assert skipped == {"torch": "torch is not installed"}
    ok, skipped = bench.available_impls(["backproplab", "numpy"], device="gpu")
    assert ok == ["backproplab"] and "CPU only" in skipped["numpy"]


def test_synthetic_data_of_mnists_shape_when_fashion_mnist_is_missing(monkeypatch):
    from backproplab.bench import workload

    def missing(*args, **kwargs):
        raise BackproplabError("fashion-mnist is not on this machine")

    monkeypatch.setattr(workload, "load_dataset", missing)
    X, y, info = bench.load_data(quick=True)
    assert X.shape == (bench.QUICK_ROWS, 784) and X.dtype == np.float32
    assert y.shape == (bench.QUICK_ROWS,) and set(np.unique(y)) <= set(range(10))
    assert info["source"] == "synthetic" and "not on this machine" in info["why"]
    assert info["bytes"] == X.nbytes + y.nbytes
    # an explicit --data-dir that does not hold the data is an error, not a silent fallback
    with pytest.raises(BackproplabError, match="not on this machine"):
        bench.load_data(quick=True, data_dir="/nowhere")
    X, _, info = bench.load_data(limit=100, synthetic=True)
    assert X.shape == (100, 784) and info["why"] == "synthetic data requested"


def test_load_probe_measures_a_fraction_of_the_machine():
    probe = bench.LoadProbe().start()
    sum(i * i for i in range(200_000))  # some work of our own, which must not count
    got = probe.stop()
    if got["others"] is None:
        pytest.skip("no /proc/stat here")
    assert 0.0 <= got["others"] <= 1.0 and 0.0 <= got["steal"] <= 1.0


def test_script_wrapper_shows_the_same_options():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "epoch_time.py"), "--help"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    for opt in ("--batch-sizes", "--epochs", "--threads", "--impl", "--quick", "--json-out"):
        assert opt in r.stdout


def test_scalar_speed_benchmark_measures_both_update_paths():
    spec = importlib.util.spec_from_file_location("scalar_speed",
                                                  ROOT / "benchmarks" / "scalar_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.measure(limit=300, hidden=4, repeat=1)
    assert r["examples"] == 300 and r["sizes"] == [2, 4, 2]
    assert r["train_step"] > 0 and r["forward+backward+sgd_step"] > 0
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scalar_speed.py"),
                          "--limit", "200", "--repeat", "1", "--json"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["examples"] == 200


def _have_gpu() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no driver, no device
        return False


@pytest.mark.skipif(not _have_gpu(), reason="needs CuPy and a CUDA device")
def test_gpu_quick_run_times_backproplab_on_cupy(tmp_path):
    res = bench.run_benchmark(["backproplab", "torch", "numpy"], ["64", "full"], epochs=1,
                              warmup=0, quick=True, device="gpu", memory_batch_sizes="full")
    assert res["config"]["device"] == "gpu"
    assert res["skipped"]["numpy"] == "runs on the CPU only"
    assert res["matmul_peak"]["cupy"]["library"] == "cupy"
    assert {r["impl"] for r in res["results"]} >= {"backproplab"}
    for r in res["results"]:
        assert r["median_seconds"] > 0
    for m in res["memory"]:
        assert "error" not in m, m
        assert m["device_peak_mb"] > 0


def test_gpu_script_fixes_the_device():
    script = ROOT / "benchmarks" / "gpu_epoch_time.py"
    r = subprocess.run([sys.executable, str(script), "--device", "cpu"], capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 2 and "fixed to gpu" in r.stderr


def test_waiting_for_quiet_gives_up_after_the_limit():
    if probes.proc_stat() is None:
        pytest.skip("no /proc/stat here")
    # no load is ever low enough: it must keep probing until the limit, then stop
    waited = probes.wait_for_quiet(0.2, window=0.05, flag=-1.0)
    assert 0.2 <= waited < 2.0
    # a quiet enough machine ends the wait after the first window
    assert probes.wait_for_quiet(5.0, window=0.05, flag=1.0) < 1.0


def test_json_mode_puts_only_json_lines_on_stdout(cli):
    base = ("bench", "--quick", "--no-memory", "--synthetic", "--impl", "numpy",
            "--batch-sizes", "full")
    r = cli(*base, "--json")
    assert r.status == 0, r.err
    lines = r.out.splitlines()
    assert lines and all(line.strip() for line in lines)
    objects = [json.loads(line) for line in lines]  # every line parses on its own
    assert len(objects) == 1 and objects[0]["format"] == "backproplab.bench.epoch_time"
    assert "seconds per epoch" in r.err and "seconds per epoch" not in r.out
    # without --json the tables are the output, on stdout
    r = cli(*base)
    assert r.status == 0, r.err
    assert "seconds per epoch" in r.out and "seconds per epoch" not in r.err


def test_memory_is_measured_in_a_child_given_its_settings_on_stdin():
    from backproplab.bench.memory import measure_memory

    row = measure_memory("numpy", "full", threads=1, quick=True, synthetic=True, data_dir=None,
                         limit=256, lr=0.01, seed=0)
    assert "error" not in row, row
    assert (row["impl"], row["batch_size"]) == ("numpy", "full")
    assert row["peak_mb"] >= row["after_load_mb"] > 0 and row["device_peak_mb"] is None
