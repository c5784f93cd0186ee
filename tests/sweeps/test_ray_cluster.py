"""A sweep on a Ray cluster of several nodes (simulated on this machine with
``ray.cluster_utils.Cluster``) survives losing a whole node mid-sweep: every
trial finishes, bit-identical to the local executor, and the driver's run
folders are never half-written (watched while the sweep runs)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.same_results import fingerprint

from backproplab.runs import is_bookkeeping, is_temporary
from backproplab.sweeps import Sweep, run_sweep
from backproplab.sweeps.ray_executor import RayExecutor
from backproplab.training import TrainConfig

pytestmark = pytest.mark.slow

#: Six trials of 300 synthetic points, 3 epochs of 19 batches.
SWEEP = Sweep(TrainConfig(dataset="synth", limit=300, hidden=(8,), batch_size=16, epochs=3),
              {"lr": [0.1, 0.2, 0.3]}, seeds=[0, 1])
SLEEP_ENV = "BACKPROPLAB_TEST_BATCH_SLEEP"


@pytest.fixture
def cluster():
    """A head node without CPUs (the driver's) and three worker nodes of 1 CPU."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(3)]
    try:
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
                 logging_level="warning")
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


def half_written(folder: Path) -> list[str]:
    """What in a trial folder is not whole: a JSON file that does not parse, a
    summary without its model, or (at the end) a leftover temporary file."""
    problems = []
    for path in folder.iterdir():
        if path.suffix == ".json":
            try:
                json.loads(path.read_text())
            except ValueError:
                problems.append(f"{path} does not parse")
            except FileNotFoundError:  # replaced by the next atomic write meanwhile
                pass
        elif path.suffix == ".npz":
            try:
                with np.load(path, allow_pickle=False) as z:
                    z.files  # noqa: B018 - reading the index is the check
            except FileNotFoundError:
                pass
            except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
                problems.append(f"{path}: {exc}")
    if (folder / "summary.json").exists() and not (folder / "model.npz").exists():
        problems.append(f"{folder} has a summary and no model")
    return problems


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def trial_processes() -> list[int]:
    """PIDs of Ray workers running a trial (Ray titles them after the task)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(
                    b"ray::backproplab-trial:"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_sweep_survives_losing_a_node(cluster, tmp_path):
    cluster, nodes = cluster
    out = tmp_path / "ray"
    started: list[str] = []
    removed: list = []
    problems: list[str] = []
    done = threading.Event()

    raylet = nodes[1].all_processes["raylet"][0].process.pid

    def on_started():  # a trial runs on the node that will be lost
        return any(_parent(pid) == raylet for pid in trial_processes())

    def watch():  # remove one node mid-sweep; check the folders meanwhile
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            if not removed and on_started():
                time.sleep(0.3)  # well inside the trial (it lasts over 1 s)
                cluster.remove_node(nodes[1], allow_graceful=False)
                removed.append(nodes[1])
            if out.is_dir():
                for folder in out.iterdir():
                    if folder.is_dir():
                        problems.extend(half_written(folder))
            time.sleep(0.02)

    class Executor(RayExecutor):
        def run(self, trials, on_event=None):
            def spy(event):
                if event.kind == "started":
                    started.append(event.trial.name)
                if on_event is not None:
                    on_event(event)
            return super().run(trials, spy)

    thread = threading.Thread(target=watch, daemon=True)
    with Executor(env={SLEEP_ENV: "0.03"}, retries=2) as ex:
        assert ex.workers == 3
        thread.start()
        try:
            outcome = run_sweep(SWEEP, out, executor=ex, progress="quiet")
        finally:
            done.set()
            thread.join(10)
    assert removed, "the node was never removed"
    assert not problems, problems[:5]
    assert outcome.ok and outcome.count("ok") == 6, [r.error for r in outcome.results]
    attempts = {r.name: r.attempts for r in outcome.results}
    assert max(attempts.values()) == 2, attempts  # the lost node's trial ran again

    local = run_sweep(SWEEP, tmp_path / "local", workers=2, progress="quiet")
    assert local.ok
    for name in SWEEP.trial_names():
        a, b = out / name, tmp_path / "local" / name
        assert fingerprint(a) == fingerprint(b), name
        assert sorted(p.name for p in a.iterdir() if not is_bookkeeping(p.name)) == \
            sorted(p.name for p in b.iterdir() if not is_bookkeeping(p.name))
        assert not [p for p in a.iterdir() if is_temporary(p.name)]
        assert not half_written(a)
        sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
        assert sa["eval_loss"] == sb["eval_loss"] and sa["train_loss"] == sb["train_loss"]
