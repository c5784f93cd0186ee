"""Every benchmarked trainer in its own fresh process, driven epoch by epoch in turns.

A *peer* is one row of the benchmark: an implementation at a thread count.
Each runs in a process of its own (``spawn``: a fresh interpreter), so no
library pays for another's thread pools (NumPy's OpenBLAS threads keep
spinning after their last product and took the cores PyTorch's threads needed
when both ran in one process: docs/performance.md). The parent sends ``"go"``,
the peer trains one epoch and answers with its seconds and the load other
processes put on the machine meanwhile (measured in the peer: its own CPU time
is not "other"); the parent waits :data:`SETTLE_SECONDS` before each epoch so
that the previous peer's spinning threads have gone to sleep.

The ``train`` peer is ``backproplab train`` itself: :func:`run_training` in a
temporary run folder with its logs, progress display, divergence guard,
evaluation and checkpoint. Its epoch time is the ``train_seconds`` it wrote to
``metrics.jsonl``; ``wall`` is the whole epoch (evaluation passes, checkpoint
and logs included), from the end of one epoch to the end of the next.

A peer never decides its own thread count: the default one (``train``'s rule,
:func:`~backproplab.training.threads.choose_threads`) is resolved by the parent
from one load sample taken before any row runs, and given to the peer as a
number (:class:`Peer` ``default=True`` says it is the default). A peer sampling
the load itself would count the previous row's still-spinning thread pools, or
the parent's matmul-peak product, as other processes' load, and pick fewer
threads than on a quiet machine. :meth:`PeerProcess.close` waits until the
process has exited (it is killed if it does not), so no peer of one batch size
outlives it into the next.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from backproplab.bench.probes import LoadProbe, thread_info
from backproplab.bench.runners import make_runner
from backproplab.bench.workload import ACTIVATION, SIZES, load_data
from backproplab.errors import BackproplabError
from backproplab.fileio import load_json, read_jsonl
from backproplab.runs import CONFIG, METRICS
from backproplab.tensor.blas import default_gemm
from backproplab.tensor.kernels import default_kernels
from backproplab.training import TrainConfig, run_training
from backproplab.training.progress import PlainProgress
from backproplab.training.threads import computing

#: Seconds the parent waits before each epoch (idle thread pools stop spinning).
SETTLE_SECONDS = 0.3
#: Seconds a peer may take to start or to train one epoch before it is given up.
PEER_TIMEOUT = 900.0


@dataclass(frozen=True)
class Peer:
    """One row of the benchmark: an implementation at a thread count.

    Attributes
    ----------
    name : str
        The row's name.
    impl : str
        ``"train"`` (``backproplab train`` itself) or a runner's name.
    threads : int or None
        Its threads; ``None`` in a plan: ``train``'s default, which the parent
        resolves (:func:`~backproplab.bench.run.default_threads`) before the peer starts.
    default : bool
        Whether ``threads`` is that resolved default (reported as such).
    gemm : str or None
        The train path's ``gemm`` (``None``: its default; the ``train-openblas`` row
        forces NumPy's OpenBLAS where the default is MKL).
    kernels : str or None
        The train path's ``kernels`` (``None``: its default; the
        ``train-numpy-kernels`` row forces NumPy's where the default is Numba's).
    """

    name: str
    impl: str
    threads: int | None
    default: bool = False
    gemm: str | None = None
    kernels: str | None = None


class _Stop(Exception):
    """The parent ended the peer."""


def _wait_go(conn) -> None:
    msg = conn.recv()
    if msg != "go":
        raise _Stop


class _GatedProgress(PlainProgress):
    """The train peer's progress display: a plain one (to /dev/null) that, after each
    epoch, reports the epoch from ``metrics.jsonl`` and waits for the next ``"go"``."""

    def __init__(self, conn, out: Path, stream):
        super().__init__(stream)
        self.conn, self.out = conn, out
        self.t0, self.probe = 0.0, LoadProbe()

    def start(self, **kw):
        super().start(**kw)
        threads = load_json(self.out / CONFIG)["threads"]
        self.conn.send({"ready": True, "threads": threads, "pools": thread_info([])})
        self._next()

    def _next(self) -> None:
        _wait_go(self.conn)
        self.probe.start()
        self.t0 = time.perf_counter()

    def epoch_end(self, record):
        super().epoch_end(record)
        wall = time.perf_counter() - self.t0
        load = self.probe.stop()
        last = read_jsonl(self.out / METRICS)[-1]
        self.conn.send({"seconds": float(last["train_seconds"]), "wall": wall,
                        **load})
        self._next()


def train_config(settings: dict, threads: int | None, gemm: str | None = None,
                 kernels: str | None = None) -> TrainConfig:
    """The config of the ``train`` peer: the benchmark's network, data and SGD.

    Parameters
    ----------
    settings : dict
        As :func:`peer_settings` gives them (with a batch size).
    threads : int or None
        Its threads (``None``: not resolved yet).
    gemm : str or None, default None
        Its ``gemm`` (``None``: the run's default).
    kernels : str or None, default None
        Its ``kernels`` (``None``: the run's default).

    Returns
    -------
    TrainConfig
    """
    s = settings
    return TrainConfig(dataset="fashion-mnist", data_dir=s["data_dir"], limit=s["limit"],
                       hidden=SIZES[1:-1], activation=ACTIVATION, optimizer="sgd", lr=s["lr"],
                       batch_size="full" if s["batch_size"] == "full" else int(s["batch_size"]),
                       epochs=s["max_epochs"], seed=s["seed"], dtype="float32",
                       threads=threads, device=s["device"], gemm=gemm, kernels=kernels)


def _train_peer(conn, peer: Peer, s: dict) -> None:
    cfg = train_config(s, peer.threads, peer.gemm, peer.kernels)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp, \
            open(os.devnull, "w") as devnull:
        out = Path(tmp) / "run"
        run_training(cfg, out, progress=_GatedProgress(conn, out, devnull))


def _runner_peer(conn, peer: Peer, s: dict) -> None:
    X, y, _ = load_data(quick=s["quick"], synthetic=s["synthetic"], data_dir=s["data_dir"],
                        limit=s["limit"])
    # the bare loop computes with the GEMM and kernels that `train` picks by default
    ours = peer.impl == "backproplab" and s["device"] == "cpu"
    with computing(peer.threads, default_gemm() if ours else None,
                   default_kernels() if ours else None):  # as a run computes
        if peer.impl == "torch":
            import torch

            torch.set_num_threads(peer.threads)
        runner = make_runner(peer.impl, X, y, s["batch_size"], s["lr"], s["seed"], s["device"])
        conn.send({"ready": True, "threads": peer.threads, "pools": thread_info([peer.impl])})
        probe = LoadProbe()
        while True:
            _wait_go(conn)
            probe.start()
            t0 = time.perf_counter()
            own = runner.epoch()
            wall = time.perf_counter() - t0
            conn.send({"seconds": wall if own is None else float(own), "wall": wall,
                       **probe.stop()})


def _peer_main(conn, peer: Peer, settings: dict) -> None:
    """The peer process: set up ``peer``, then one epoch per ``"go"`` until ``"stop"``.

    Parameters
    ----------
    conn : multiprocessing.connection.Connection
        The pipe to the parent.
    peer : Peer
    settings : dict
        ``batch_size``, ``lr``, ``seed``, ``device``, ``quick``, ``synthetic``,
        ``data_dir``, ``limit``, ``max_epochs``.
    """
    try:
        if peer.impl == "train":
            _train_peer(conn, peer, settings)
        else:
            _runner_peer(conn, peer, settings)
    except (_Stop, EOFError, BrokenPipeError):
        pass
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        conn.send({"error": f"{peer.name}: {exc}"})
    finally:
        conn.close()


class PeerProcess:
    """A running peer: ``epoch()`` times one epoch in it, ``close()`` ends it.

    Starting it spawns the process and waits for its first answer.

    Parameters
    ----------
    peer : Peer
        What it runs.
    settings : dict
        As :func:`peer_settings` gives them.

    Raises
    ------
    BackproplabError
        When the peer gives no answer in time, ends, or reports an error.
    """

    def __init__(self, peer: Peer, settings: dict):
        ctx = multiprocessing.get_context("spawn")
        self.peer = peer
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_peer_main, args=(child, peer, settings), daemon=True,
                                name=f"bench-{peer.name}")
        self.proc.start()
        child.close()
        self.info = self._receive()

    def _receive(self) -> dict:
        if not self.conn.poll(PEER_TIMEOUT):
            self.close()
            raise BackproplabError(f"the benchmark's {self.peer.name} process gave no answer "
                                   f"in {PEER_TIMEOUT:.0f} s; rerun with fewer --batch-sizes")
        try:
            msg = self.conn.recv()
        except EOFError:
            code = self.proc.exitcode
            raise BackproplabError(f"the benchmark's {self.peer.name} process ended "
                                   f"(exit status {code}); rerun it, or leave it out "
                                   "with --impl") from None
        if "error" in msg:
            self.close()
            raise BackproplabError(f"the benchmark's {msg['error']}; fix that, or leave it "
                                   "out with --impl")
        return msg

    def epoch(self) -> dict:
        """Train one epoch in the peer: ``seconds``, ``wall``, ``others``, ``steal``."""
        self.conn.send("go")
        return self._receive()

    def close(self) -> None:
        """Tell the peer to stop and wait until its process has exited (terminated
        after 10 seconds, killed after 5 more): no peer outlives its batch size."""
        try:
            self.conn.send("stop")
        except (OSError, ValueError):
            pass
        self.proc.join(10)
        for end in (self.proc.terminate, self.proc.kill):
            if self.proc.is_alive():
                end()
                self.proc.join(5)
        self.conn.close()


def peer_settings(batch_size: str, *, lr: float, seed: int, device: str, quick: bool,
                  synthetic: bool, data_dir, limit, max_epochs: int) -> dict:
    """The settings every peer process of one batch size gets.

    Parameters
    ----------
    batch_size : str
        A batch size, or ``"full"``.
    lr : float
        The learning rate.
    seed : int
        The seed.
    device : str
        Where it trains.
    quick, synthetic, data_dir, limit
        The data, as in :func:`~backproplab.bench.workload.load_data`.
    max_epochs : int
        The most epochs a peer trains.

    Returns
    -------
    dict
        The same values by name (``data_dir`` as text or ``None``).
    """
    return {"batch_size": batch_size, "lr": lr, "seed": seed, "device": device, "quick": quick,
            "synthetic": synthetic, "data_dir": str(data_dir) if data_dir else None,
            "limit": limit, "max_epochs": max_epochs}


def settle() -> None:
    """Wait :data:`SETTLE_SECONDS` (the last peer's thread pools go to sleep)."""
    time.sleep(SETTLE_SECONDS)


__all__ = ["PEER_TIMEOUT", "SETTLE_SECONDS", "Peer", "PeerProcess", "peer_settings", "settle",
           "train_config"]
