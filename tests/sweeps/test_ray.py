"""Sweeps on Ray: same numbers as the local executor, worker deaths retried,
interrupted drivers resumed, bad addresses refused before anything is written.

One local Ray instance (2 CPUs) is shared by the tests of this module; the
tests that need a driver process of their own (the command connecting by
address, unreachable addresses) run ``backproplab sweep`` in a child process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from backproplab.errors import BackproplabError
from backproplab.fileio import read_jsonl
from backproplab.runs import is_bookkeeping
from backproplab.sweeps import Sweep, run_sweep
from backproplab.sweeps.driver import make_executor
from backproplab.sweeps.ray_connect import (
    executor_options,
    resolve_address,
    split_address,
)
from backproplab.sweeps.ray_executor import RayExecutor
from backproplab.sweeps.trials import Executor
from backproplab.training import TrainConfig

#: A tiny run: 300 synthetic points, 8 hidden units, 19 batches per epoch.
BASE = TrainConfig(dataset="synth", limit=300, hidden=(8,), batch_size=16, epochs=2)
#: Summary and metrics fields that measure time, not results.
TIMING = {"seconds", "train_seconds", "eval_seconds"}
SLEEP_ENV = "BACKPROPLAB_TEST_BATCH_SLEEP"


def load(path: Path):
    return json.loads(Path(path).read_text())


def needs_ray():
    return pytest.importorskip("ray", reason="the ray extra is not installed")


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance for the module; yields its address."""
    ray = needs_ray()
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="warning")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _parent(pid: int | str) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


def ray_processes(prefix: str) -> list[int]:
    """PIDs of this test's Ray workers whose title starts with ``prefix`` (Ray
    names a worker after the task it runs: ``ray::backproplab-trial:<trial>``).
    Only workers of the instance this process started count: their parent is
    its raylet, a child of this process."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith(prefix) and _parent(_parent(entry.name)) == os.getpid():
                pids.append(int(entry.name))
    return pids


def backproplab(*args: str, env: dict | None = None, timeout: float = 120):
    """``python -m backproplab ARGS`` in a child process (without the Ray
    settings this process may hold, unless ``env`` gives them)."""
    full = dict(os.environ, OMP_NUM_THREADS="1")
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE"):  # ray.init sets RAY_AUTH_MODE here
        full.pop(var, None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "backproplab", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=full,
                          check=False)


def machine_free(obj):
    """``obj`` without the ``threads`` option (a machine setting, not a result)."""
    if isinstance(obj, dict):
        return {k: machine_free(v) for k, v in obj.items() if k != "threads"}
    if isinstance(obj, list):
        return [machine_free(v) for v in obj]
    return obj


def assert_same_trial(a: Path, b: Path, statuses: bool = True) -> None:
    """Two run folders hold the same results: files, metrics (time fields
    aside), per-batch losses, final weights and checkpoint (machine options
    aside); with ``statuses``, the same outcome (and resume) too."""
    def files(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir() if not is_bookkeeping(p.name))

    assert files(a) == files(b)
    if statuses:
        sa, sb = load(a / "status.json"), load(b / "status.json")
        assert (sa["status"], sa["error"], sa["resumed"]) == (sb["status"], sb["error"],
                                                               sb["resumed"])
    assert machine_free(load(a / "config.json")) == machine_free(load(b / "config.json"))
    assert (a / "batches.jsonl").read_bytes() == (b / "batches.jsonl").read_bytes()
    ma, mb = read_jsonl(a / "metrics.jsonl"), read_jsonl(b / "metrics.jsonl")
    assert [{k: v for k, v in r.items() if k not in TIMING} for r in ma] == \
        [{k: v for k, v in r.items() if k not in TIMING} for r in mb]
    if (a / "summary.json").exists():
        ya, yb = load(a / "summary.json"), load(b / "summary.json")
        assert ya["run_dir"] == str(a) and yb["run_dir"] == str(b)
        drop = TIMING | {"run_dir"} | (set() if statuses else {"resumed_from_epoch"})
        assert {k: v for k, v in ya.items() if k not in drop} == \
            {k: v for k, v in yb.items() if k not in drop}
    for name in ("model.npz", "checkpoint.npz"):
        if (a / name).exists():
            with np.load(a / name, allow_pickle=False) as za, \
                    np.load(b / name, allow_pickle=False) as zb:
                assert sorted(za.files) == sorted(zb.files)
                for key in za.files:
                    x, y = za[key], zb[key]
                    if x.dtype == np.uint8:  # JSON (config, optimizer state, RNG state)
                        x, y = (machine_free(json.loads(v.tobytes())) for v in (x, y))
                        assert x == y, f"{name}:{key}"
                    else:
                        np.testing.assert_array_equal(x, y, err_msg=f"{name}:{key}")


# ---------------------------------------------------------------------------
# same numbers as the local executor


def test_ray_sweep_matches_the_local_executor_trial_by_trial(ray_cluster, tmp_path):
    # two data settings (limit), a learning rate that diverges, two seeds
    sweep = Sweep(BASE, {"limit": [300, 400], "lr": [0.1, 1e30]}, seeds=[0, 1])
    with make_executor("ray") as ray_ex:
        assert isinstance(ray_ex, RayExecutor) and ray_ex.workers == 2
        on_ray = run_sweep(sweep, tmp_path / "ray", executor=ray_ex, progress="quiet")
        # the data went into the object store once per data setting, not per trial
        assert len(ray_ex.datasets_put) == 2
    local = run_sweep(sweep, tmp_path / "local", workers=2, progress="quiet")

    assert [r.status for r in on_ray.results] == [r.status for r in local.results]
    assert on_ray.count("ok") == 4 and on_ray.count("failed") == 4
    for result in on_ray.failed:  # errors of the trial itself: recorded once, not retried
        assert result.attempts == 1 and result.error.startswith("DivergenceError")
    for name in sweep.trial_names():
        assert_same_trial(tmp_path / "ray" / name, tmp_path / "local" / name)
    ra, la = load(tmp_path / "ray" / "results.json"), load(tmp_path / "local" / "results.json")
    assert [g["label"] for g in ra["groups"]] == [g["label"] for g in la["groups"]]
    for ga, gb in zip(ra["groups"], la["groups"]):
        for key in ("eval_accuracy", "eval_loss", "train_loss"):
            assert ga["final"][key] == gb["final"][key]


def test_trial_continues_from_a_checkpoint_shipped_to_the_worker(ray_cluster, tmp_path,
                                                                 interrupted_trial):
    base = BASE.replace(epochs=3)
    sweep = Sweep(base, {"lr": [0.1, 0.2]}, seeds=[0])
    ref = run_sweep(sweep, tmp_path / "ref", workers=1, progress="quiet")
    # a local sweep killed in the second epoch of one trial: its checkpoint of epoch 1
    out = tmp_path / "resumed"
    trial = interrupted_trial(sweep, out)

    with RayExecutor() as ex:
        outcome = run_sweep(sweep, out, executor=ex, progress="quiet")
    assert ref.ok and outcome.ok
    assert load(Path(trial.out_dir) / "status.json")["resumed"] is True
    assert load(Path(trial.out_dir) / "summary.json")["resumed_from_epoch"] == 1
    for name in sweep.trial_names():
        assert_same_trial(out / name, tmp_path / "ref" / name, statuses=False)


# ---------------------------------------------------------------------------
# faults


def test_killed_worker_is_retried_and_nothing_is_lost_or_duplicated(ray_cluster, tmp_path,
                                                                    capsys):
    sweep = Sweep(BASE.replace(epochs=3), {"lr": [0.1, 0.2, 0.3]}, seeds=[0])
    victim_trial = sweep.trial_names()[0]
    killed: list[int] = []

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = ray_processes(f"ray::backproplab-trial:{victim_trial}")
            if pids:
                time.sleep(0.1)  # inside the trial (it lasts at least 1.1 s)
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    # every batch sleeps 20 ms, so that the trial is still running when it is killed
    with RayExecutor(env={SLEEP_ENV: "0.02"}) as ex:
        thread.start()
        outcome = run_sweep(sweep, tmp_path / "ray", executor=ex, progress="plain")
    thread.join(5)
    assert killed, "the trial's worker process was never seen"
    assert outcome.ok and outcome.count("ok") == 3
    names = [r.name for r in outcome.results]
    assert sorted(names) == sorted(sweep.trial_names()) and len(set(names)) == 3
    attempts = {n: load(tmp_path / "ray" / n / "status.json")["attempts"] for n in names}
    assert attempts == {victim_trial: 2, **{n: 1 for n in names if n != victim_trial}}
    assert f"retrying {victim_trial}: its Ray worker died" in capsys.readouterr().err
    # the retried trial holds one complete run, equal to an undisturbed local one
    local = run_sweep(sweep, tmp_path / "local", workers=1, progress="quiet")
    assert local.ok
    for name in names:
        assert len(read_jsonl(tmp_path / "ray" / name / "metrics.jsonl")) == 3
        assert_same_trial(tmp_path / "ray" / name, tmp_path / "local" / name)


def test_worker_dying_every_time_fails_the_trial_after_the_retries(ray_cluster, tmp_path):
    sweep = Sweep(BASE.replace(epochs=3), {"lr": [0.1]}, seeds=[0])
    stop = threading.Event()

    def killer():  # kills every attempt of the trial
        while not stop.is_set():
            for pid in ray_processes("ray::backproplab-trial:"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    try:
        with RayExecutor(env={SLEEP_ENV: "0.02"}, retries=1) as ex:
            thread.start()
            outcome = run_sweep(sweep, tmp_path, executor=ex, progress="quiet")
    finally:
        stop.set()
        thread.join(5)
    (result,) = outcome.results
    assert result.status == "failed" and result.attempts == 2
    assert result.error.startswith("WorkerDied")
    status = load(tmp_path / sweep.trial_names()[0] / "status.json")
    assert status["status"] == "failed" and status["attempts"] == 2


def test_timed_out_trial_says_the_rerun_trains_it_again(ray_cluster, tmp_path):
    # the trial's checkpoints stay with its cancelled task: the rerun cannot
    # resume it (the message used to promise "resume it from its checkpoint")
    sweep = Sweep(BASE, {"lr": [0.1]}, seeds=[0])
    with RayExecutor(env={SLEEP_ENV: "0.5"}, trial_timeout=2) as ex:
        outcome = run_sweep(sweep, tmp_path, executor=ex, progress="quiet")
    (result,) = outcome.results
    folder = tmp_path / sweep.trial_names()[0]
    assert result.status == "failed" and not (folder / "checkpoint.npz").exists()
    assert result.error == (
        "TrialTimeout: the trial ran longer than the trial timeout of 2 s, so its Ray task "
        "was cancelled and what it trained on the worker is lost; run the same command "
        "again with a larger --trial-timeout to train it again")
    assert load(folder / "status.json")["error"] == result.error


class InterruptAfterFirst(Executor):
    """Wraps an executor; the driver is 'interrupted' after the first result."""

    def __init__(self, inner: Executor):
        self.inner, self.workers, self.name = inner, inner.workers, inner.name

    def run(self, trials, on_event=None):
        results = self.inner.run(trials, on_event)
        yield next(results)
        results.close()  # what an exception in the driver does to the executor's loop
        raise KeyboardInterrupt


def test_interrupted_driver_reruns_only_the_unfinished_trials(ray_cluster, tmp_path):
    sweep = Sweep(BASE.replace(epochs=3), {"lr": [0.1, 0.2, 0.3]}, seeds=[0])
    with RayExecutor(env={SLEEP_ENV: "0.01"}) as ex:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(sweep, tmp_path, executor=InterruptAfterFirst(ex), progress="quiet")
        # the trial still running was cancelled: no worker keeps running it
        deadline = time.monotonic() + 10
        while ray_processes("ray::backproplab-trial:") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not ray_processes("ray::backproplab-trial:")
        done = [n for n in sweep.trial_names() if (tmp_path / n / "summary.json").exists()]
        assert len(done) == 1
        # nothing of the unfinished trials reached the sweep folder
        assert sorted(p.name for p in tmp_path.iterdir() if not is_bookkeeping(p.name)) == \
            sorted(["sweep.json", *done])
        again = run_sweep(sweep, tmp_path, executor=ex, progress="quiet")
    assert again.ok and again.count("skipped") == 1 and again.count("ok") == 2
    assert all(load(tmp_path / n / "status.json")["attempts"] == 1
               for n in sweep.trial_names())


# ---------------------------------------------------------------------------
# the command line


def test_sweep_command_on_ray(ray_cluster, cli, tmp_path):
    out = tmp_path / "s"
    r = cli("sweep", "--limit", "300", "--hidden", "8", "--epochs", "1", "--lr", "0.1,0.2",
            "--executor", "ray", "--out", out, "--json", "--quiet")
    assert r.status == 0, r.err
    assert r.json()["ok"] == 2 and (out / "results.json").is_file()
    r = cli("sweep", "--lr", "0.1", "--ray-address", "127.0.0.1:1", "--out", tmp_path / "x")
    assert r.status == 2 and "--ray-address needs --executor ray" in r.err
    assert not (tmp_path / "x").exists()


def test_sweep_command_connects_to_a_running_cluster_by_address(ray_cluster, tmp_path):
    out = tmp_path / "s"
    proc = backproplab("sweep", "--limit", "300", "--hidden", "8", "--epochs", "1",
                       "--lr", "0.1,0.2", "--executor", "ray", "--ray-address", ray_cluster,
                       "--out", out, "--json", env={"RAY_AUTH_MODE": "token"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["ok"] == 2
    ref = run_sweep(Sweep(BASE.replace(epochs=1), {"lr": [0.1, 0.2]}, [0]), tmp_path / "ref",
                    workers=2, progress="quiet")
    for name in ("lr=0.1_seed=0", "lr=0.2_seed=0"):
        assert_same_trial(out / name, tmp_path / "ref" / name)
    assert ref.ok


@pytest.mark.parametrize("how", ["option", "environment"])
def test_unreachable_address_fails_fast_and_writes_nothing(tmp_path, how):
    needs_ray()
    out = tmp_path / "never"
    args = ["sweep", "--limit", "300", "--epochs", "1", "--executor", "ray", "--out", out]
    env = {}
    if how == "option":
        args += ["--ray-address", "127.0.0.1:1"]
    else:
        env["RAY_ADDRESS"] = "127.0.0.1:1"
    start = time.monotonic()
    proc = backproplab(*args, env=env, timeout=60)
    assert time.monotonic() - start < 30
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_open_port_that_is_not_ray_times_out_and_writes_nothing(tmp_path):
    needs_ray()
    out = tmp_path / "never"
    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        start = time.monotonic()
        proc = backproplab("sweep", "--limit", "300", "--epochs", "1", "--executor", "ray",
                           "--ray-address", address, "--out", out,
                           env={"BACKPROPLAB_RAY_CONNECT_TIMEOUT": "3"},
                           timeout=60)
        took = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert f"cannot reach the Ray cluster at {address}: no answer within 3 s" in proc.stderr
    assert "set RAY_AUTH_MODE=token" in proc.stderr  # the usual cause with `ray start`
    assert took < 30
    assert not out.exists()


def test_without_ray_the_error_says_how_to_install_it(monkeypatch, cli, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    with pytest.raises(BackproplabError, match=r'pip install "backproplab\[ray\]"'):
        make_executor("ray", 2)
    r = cli("sweep", "--limit", "300", "--epochs", "1", "--executor", "ray",
            "--out", tmp_path / "s")
    assert r.status == 2 and 'pip install "backproplab[ray]"' in r.err
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------
# options


def test_address_parsing(monkeypatch):
    assert split_address("10.0.0.5:6380") == ("10.0.0.5", 6380)
    assert split_address("head") == ("head", 6379)
    assert split_address("ray://head") == ("head", 10001)
    assert split_address("ray://head:9000") == ("head", 9000)
    assert split_address("[::1]:7000") == ("::1", 7000)
    assert split_address("auto") is None
    with pytest.raises(BackproplabError, match="bad port 'x'"):
        split_address("head:x")
    with pytest.raises(BackproplabError, match="names no host"):
        split_address(":6379")
    # the dashboard's address is a common mix-up: named as such, not as a DNS failure
    with pytest.raises(BackproplabError, match=r"starts with http://.*HOST:6379"):
        split_address("http://127.0.0.1:8265")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:6379")
    assert resolve_address(None) == "10.0.0.9:6379"
    assert resolve_address("head:1") == "head:1"
    assert resolve_address("local") is None
    monkeypatch.delenv("RAY_ADDRESS")
    assert resolve_address(None) is None
    assert executor_options("ray", None) == {}
    assert executor_options("ray", "head:1") == {"address": "head:1"}
    with pytest.raises(BackproplabError, match="needs --executor ray"):
        executor_options("local", "head:1")


def test_malformed_ray_address_variable_is_named_in_the_error(tmp_path):
    # RAY_ADDRESS=http://HOST:8265 is what Ray's docs export for `ray job submit`;
    # the error named an address the user never gave on the command line
    needs_ray()
    proc = backproplab("sweep", "--limit", "300", "--epochs", "1", "--executor", "ray",
                       "--out", tmp_path / "s", env={"RAY_ADDRESS": "http://127.0.0.1:8265"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == (
        "backproplab: error: the Ray address 'http://127.0.0.1:8265' starts with http://, "
        "which Ray cannot connect a driver to (the dashboard's http:// address is for job "
        "submission), and it comes from the environment variable RAY_ADDRESS; set "
        "RAY_ADDRESS to the head node (HOST:6379 or ray://HOST:10001), unset it for a "
        "local Ray instance, or give --ray-address\n")
    assert not (tmp_path / "s").exists()


def test_bad_executor_options_fail_before_connecting(ray_cluster):
    with pytest.raises(BackproplabError, match="--workers"):
        make_executor("ray", 0)
    with pytest.raises(BackproplabError, match="retries"):
        RayExecutor(retries=-1)
    with pytest.raises(BackproplabError, match="already initialized"):
        RayExecutor(address="10.0.0.5:6379")
    # the connection this process already has is used and left open
    with RayExecutor(workers=1) as ex:
        assert ex.workers == 1 and not ex.started_local
        cpu_trial, = Sweep(BASE, {}, [0]).trials("/tmp/unused")
        gpu_trial = dataclasses.replace(cpu_trial, config={**cpu_trial.config, "device": "gpu"})
        assert ex._options(cpu_trial)["num_cpus"] == 1
        assert "num_gpus" not in ex._options(cpu_trial)
        assert ex._options(gpu_trial)["num_gpus"] == 1
        assert ex._options(cpu_trial)["max_retries"] == 0  # the driver counts the retries
        assert ex._options(cpu_trial)["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "1"
        # this instance has no GPU: a GPU trial is refused instead of waiting forever
        with pytest.raises(BackproplabError, match="ask for a GPU"):
            list(ex.run([gpu_trial]))
    import ray

    assert ray.is_initialized()


# ---------------------------------------------------------------------------
# reproduce


def test_reproduce_on_ray_matches_local_runs(ray_cluster, cli, tmp_path):
    args = ["reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick", "--limit",
            "300", "--quiet"]
    r = cli(*args, "--executor", "ray", "--out", tmp_path / "ray")
    assert r.status == 0, r.err
    r = cli(*args, "--workers", "2", "--out", tmp_path / "local")
    assert r.status == 0, r.err
    assert json.loads((tmp_path / "ray" / "reproduce.json").read_text())["executor"] == "ray"
    runs = sorted(p.name for p in (tmp_path / "local" / "presets" / "q4-synth").iterdir()
                  if p.is_dir())
    assert runs
    for name in runs:
        assert_same_trial(tmp_path / "ray" / "presets" / "q4-synth" / name,
                          tmp_path / "local" / "presets" / "q4-synth" / name)


def test_reproduce_with_an_unreachable_cluster_writes_nothing(cli, tmp_path):
    needs_ray()
    out = tmp_path / "never"
    start = time.monotonic()
    r = cli("reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick",
            "--executor", "ray", "--ray-address", "127.0.0.1:1", "--out", out)
    assert r.status == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in r.err
    assert time.monotonic() - start < 30
    r = cli("reproduce", "--dataset", "synth", "--only", "q4-synth", "--quick",
            "--ray-address", "127.0.0.1:1", "--out", out)
    assert r.status == 2 and "--ray-address needs --executor ray" in r.err
    assert not out.exists()


# ---------------------------------------------------------------------------
# the overhead benchmark


def test_sweep_overhead_benchmark_runs_and_reports_every_executor(tmp_path):
    """benchmarks/sweep_overhead.py end to end, tiny (its own driver, which
    starts a local Ray instance), and without Ray's start-up notice on stderr."""
    needs_ray()
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "sweep_overhead.py"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, str(script), "--trials", "4", "--workers", "2",
                           "--limit", "100", "--epochs", "1", "--repeat", "1", "--json"],
                          capture_output=True, text=True, timeout=180, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Token authentication is enabled" not in proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = {row["executor"]: row for row in result["results"]}
    assert list(rows) == ["local", "ray-cold", "ray-warm"]
    assert all(row["trials"] == 4 for row in rows.values())
    assert rows["local"]["ratio"] == 1.0 and rows["ray-cold"]["start_s"] > 0
    for row in rows.values():
        assert row["sweep_s"] > 0 and row["train_s"] > 0
        assert "overhead_per_trial_s" in row
    assert len(result["load_average_before"]) == len(result["load_average_after"]) == 3
    bad = subprocess.run([sys.executable, str(script), "--trials", "6"], capture_output=True,
                         text=True, timeout=60, env=env, check=False)
    assert bad.returncode == 2 and "multiple of 4" in bad.stderr
