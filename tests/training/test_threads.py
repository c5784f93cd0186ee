"""The default thread count: what the machine can give (CPUs, quota, others' load) and
one thread for small steps; threads never change results."""

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from tests.conftest import FASHION_MNIST_DIR
from tests.same_results import fingerprint

from backproplab.errors import BackproplabError
from backproplab.training import TrainConfig, config, threads
from backproplab.training.threads import (
    SECOND_THREAD_MIN_WORK,
    MachineFacts,
    cgroup_cpu_quota,
    choose_threads,
    cpu_jiffies,
    free_cores,
    step_work,
)

BIG = 128 * 238_200  # the study's 784-300-10 network at batch 128
SMALL = 16 * 238_200  # ... at batch 16


@pytest.mark.parametrize(("facts", "work", "want"), [
    (MachineFacts(2), BIG, 2),                          # idle 2-core machine, large steps
    (MachineFacts(2), SMALL, 1),                        # a second thread gains nothing
    (MachineFacts(2), None, 2),                         # step size unknown: no small-step rule
    (MachineFacts(2, others_busy=1.0), BIG, 1),         # one core busy elsewhere
    (MachineFacts(2, others_busy=0.4), BIG, 2),         # less than half a core: not taken
    (MachineFacts(2, others_busy=0.5), BIG, 1),         # half a core: taken
    (MachineFacts(2, others_busy=2.0), BIG, 1),         # everything busy: still one
    (MachineFacts(8, quota=1.5), BIG, 1),               # a container of 1.5 CPUs
    (MachineFacts(8, quota=4.0), BIG, 4),
    (MachineFacts(8, quota=0.2), BIG, 1),
    (MachineFacts(8, quota=16.0), BIG, 8),              # quota above the CPUs: the CPUs
    (MachineFacts(8, quota=4.0, others_busy=1.2), BIG, 3),
    (MachineFacts(1), BIG, 1),
])
def test_choose_threads_from_machine_facts(facts, work, want):
    got, why = choose_threads(facts, work)
    assert got == want
    assert why.startswith(f"{facts.affinity} usable CPU")


def test_the_reason_names_what_limited_the_threads():
    assert "quota of 1.5" in choose_threads(MachineFacts(8, quota=1.5), BIG)[1]
    assert "1 busy with other processes" in choose_threads(MachineFacts(2, others_busy=1.0))[1]
    assert "too small for a second thread" in choose_threads(MachineFacts(2), SMALL)[1]
    assert free_cores(MachineFacts(4)) == (4, "4 usable CPUs")


def test_the_small_step_rule_follows_the_network_not_only_the_batch():
    # measured crossover: hidden 300 gains from batch 32, hidden 100 from 64, hidden 1000 at 8
    assert step_work((784, 300, 10), 16) < SECOND_THREAD_MIN_WORK <= step_work((784, 300, 10), 32)
    assert step_work((784, 100, 10), 32) < SECOND_THREAD_MIN_WORK <= step_work((784, 100, 10), 64)
    assert step_work((784, 1000, 10), 8) >= SECOND_THREAD_MIN_WORK
    assert step_work((2, 8, 2), 10_000) == 10_000 * (16 + 16)


def test_cgroup_quota_v2_and_v1(tmp_path):
    assert cgroup_cpu_quota(tmp_path) is None  # no cgroup files: no quota
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu,cpuacct" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) is None
    (v1 / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("200000\n")
    assert cgroup_cpu_quota(v1) == 2.0


def test_cpu_jiffies_sums_the_cpus_asked_for(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  30 0 10 100 5 0 0 0 0 0\n"
                    "cpu0 10 0 5 50 5 0 0 0 0 0\n"
                    "cpu1 20 0 5 50 0 0 0 0 0 0\n"
                    "intr 1 2 3\n")
    assert cpu_jiffies(stat=str(stat)) == (40, 145, 0)
    assert cpu_jiffies({1}, stat=str(stat)) == (25, 75, 0)
    assert cpu_jiffies({0, 1}, stat=str(stat)) == (40, 145, 0)
    assert cpu_jiffies({7}, stat=str(stat)) is None  # a CPU the file does not list


def test_others_busy_is_a_share_of_the_cpus_sampled():
    busy = threads.others_busy_cores(0.02)
    if os.path.exists("/proc/stat"):
        assert busy is not None and 0 <= busy <= threads.usable_cpus()


def test_a_recent_load_sample_is_reused_unless_max_age_is_zero(monkeypatch):
    samples = iter([0.0, 1.0, 2.0])
    monkeypatch.setattr(threads, "others_busy_cores", lambda seconds: next(samples))
    monkeypatch.setattr(threads, "_load_cache", None)
    monkeypatch.setattr(threads, "time", SimpleNamespace(monotonic=lambda: 100.0))  # no clock
    assert threads.machine_facts().others_busy == 0.0
    assert threads.machine_facts().others_busy == 0.0  # the same instant: reused
    assert threads.machine_facts(max_age=0.0).others_busy == 1.0  # sampled now
    assert threads.machine_facts().others_busy == 1.0
    # the default age is FACTS_MAX_AGE as it is at the call (a test may set it to 0)
    monkeypatch.setattr(threads, "FACTS_MAX_AGE", 0)
    assert threads.machine_facts().others_busy == 2.0


def _fake_machine(monkeypatch, facts):
    monkeypatch.setattr(config, "machine_facts", lambda: facts)


def test_resolved_config_takes_the_default_from_the_machine_and_the_step(monkeypatch):
    _fake_machine(monkeypatch, MachineFacts(2))
    fm = TrainConfig(dataset="fashion-mnist")
    assert fm.resolved().threads == 1  # the study's batch 16: one thread
    assert fm.replace(batch_size=128).resolved().threads == 2
    assert fm.replace(batch_size="full").resolved().threads == 2
    assert fm.replace(batch_size=128, threads=1).resolved().threads == 1  # forced
    assert TrainConfig(dataset="synth", hidden=8, batch_size="full").resolved().threads == 1
    assert TrainConfig(engine="scalar").resolved().threads == 1  # no BLAS at all
    _fake_machine(monkeypatch, MachineFacts(2, others_busy=1.0))
    assert fm.replace(batch_size=128).resolved().threads == 1
    assert fm.replace(batch_size=128, threads=2).resolved().threads == 2  # forced


def test_huge_threads_are_refused_with_one_sentence(cli):
    with pytest.raises(BackproplabError, match="threads must be at most 1024"):
        TrainConfig(threads=10 ** 11).resolved()
    r = cli("train", "--threads", "99999999999", "--epochs", "1", "--limit", "100")
    assert r.status == 2
    assert "--threads must be at most 1024, got 99999999999" in r.err
    assert "Traceback" not in r.err and "OverflowError" not in r.err


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="needs Debian's dataset")
def test_threads_are_recorded_and_change_weights_only_at_float32_rounding(cli, tmp_path):
    # OpenBLAS 0.3.31 blocks the shared dimension differently with 1 and 2 threads once it
    # exceeds its kernel's block (the 784 inputs here; with its Haswell kernels at every
    # size), so the two runs are NOT bit-identical: each is reproducible with its own
    # threads, which config.json records and a replay (--config) or --resume reuses.
    args = ["--dataset", "fashion-mnist", "--limit", "3000", "--epochs", "2", "--hidden", "300",
            "--batch-size", "256", "--seed", "5", "--gemm", "openblas", "--quiet"]
    weights, prints = {}, {}
    for name, n in (("a", 1), ("b", 2), ("c", 2)):
        out = tmp_path / name
        r = cli("train", *args, "--threads", str(n), "--out", out)
        assert r.status == 0, r.err
        assert json.loads((out / "config.json").read_text())["threads"] == n  # recorded
        prints[name] = fingerprint(out)
        with np.load(out / "model.npz") as z:
            weights[name] = {k: z[k] for k in z.files if k.startswith("param/")}
    assert prints["b"] == prints["c"]  # the same threads: bit for bit
    for k, w in weights["a"].items():
        np.testing.assert_allclose(weights["b"][k], w, rtol=0, atol=1e-5)
    replay = tmp_path / "replay"
    r = cli("train", "--config", tmp_path / "b" / "config.json", "--quiet", "--out", replay)
    assert r.status == 0, r.err
    assert fingerprint(replay) == prints["b"]


@pytest.mark.parametrize(("trials", "cores", "work", "workers", "want"), [
    (10, 2, BIG, None, (2, 1)),      # two 1-thread trials, not one 2-thread trial
    (1, 2, BIG, None, (1, 2)),       # one trial: the spare core becomes a thread
    (1, 2, SMALL, None, (1, 1)),     # ... unless its steps are too small for one
    (3, 8, BIG, None, (3, 2)),
    (10, 1, BIG, None, (1, 1)),      # one free core (the others busy)
    (10, 4, BIG, 1, (1, 4)),         # workers asked for: only the threads are chosen
    (10, 4, None, 8, (8, 1)),
])
def test_a_sweep_splits_the_cores_into_workers_and_threads(trials, cores, work, workers, want):
    assert threads.split_cores(trials, cores, work, workers) == want


def test_the_local_executor_plans_workers_and_threads_per_trial(monkeypatch):
    from backproplab.sweeps import executors
    from backproplab.sweeps.spec import Sweep

    monkeypatch.setattr(executors, "machine_facts", lambda: MachineFacts(2))
    base = TrainConfig(dataset="fashion-mnist", limit=1000)
    trials = Sweep(base, {"batch_size": [16, 128]}, [0, 1]).trials("/tmp/unused")
    ex = executors.LocalExecutor()
    ex.plan(trials)
    assert (ex.workers, ex.threads_per_worker) == (2, 1)
    ex.plan(trials[-1:])  # a single trial at batch 128: both cores as threads
    assert (ex.workers, ex.threads_per_worker) == (1, 2)
    ex.plan(trials[:1] + trials[-1:])
    assert [ex.trial_threads(t) for t in trials] == [1, 1, 1, 1]
    ex.plan([trials[0]])  # batch 16 alone: too small for a second thread
    assert (ex.workers, ex.threads_per_worker) == (1, 1)
    monkeypatch.setattr(executors, "machine_facts", lambda: MachineFacts(2, others_busy=1.0))
    ex.plan(trials[-1:])
    assert (ex.workers, ex.threads_per_worker) == (1, 1)  # one core is taken
    fixed = executors.LocalExecutor(2, threads_per_worker=2)
    fixed.plan(trials)
    assert (fixed.workers, fixed.threads_per_worker) == (2, 2)
    assert {fixed.trial_threads(t) for t in trials} == {2}  # asked for: kept


def test_a_users_file_is_not_held_to_one_thread_by_the_small_step_rule():
    # its shape is unknown until it is read, so the step counts as large enough to share
    from backproplab.training.threads import SECOND_THREAD_MIN_WORK, network_step_work

    assert network_step_work("/data/table.csv", (8,), 16, None) == SECOND_THREAD_MIN_WORK
    assert network_step_work("synth", (8,), 16, None) < SECOND_THREAD_MIN_WORK
