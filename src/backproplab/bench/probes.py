"""What ``backproplab bench`` measures about the machine rather than the trainers:
the CPU and thread pools, the load of other processes (and waiting for it to
drop), library versions and the matmul peak."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from backproplab import __version__
from backproplab.bench.workload import module_for
from backproplab.tensor import blas, kernels
from backproplab.tensor.backend import get_array_module
from backproplab.tensor.blas_libs import cpuinfo
from backproplab.training.threads import (
    cgroup_cpu_quota,
    cpu_jiffies,
    machine_facts,
    own_cpu_seconds,
    usable_cpus,
)

#: The environment variables that set the BLAS/OpenMP thread pools of a child process.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

#: Others' share of the machine's CPU time above which a timing is flagged as loaded.
LOAD_FLAG = 0.10


# ------------------------------------------------------------------ load
def proc_stat() -> tuple[int, int, int] | None:
    """(busy, total, steal) jiffies of all CPUs from /proc/stat, or None off Linux."""
    return cpu_jiffies()


class LoadProbe:
    """The CPU share taken by *other* processes between ``start()`` and ``stop()``.

    ``others`` is a fraction of the whole machine (0.5 on two cores: one core
    busy elsewhere), from ``/proc/stat`` minus this process's own CPU time;
    ``None`` where ``/proc/stat`` is missing.
    """

    def __init__(self):
        self._hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def start(self) -> LoadProbe:
        """Take the starting counts; returns ``self``."""
        self._stat, self._cpu = proc_stat(), own_cpu_seconds()
        return self

    def stop(self) -> dict:
        """``{"others": fraction or None, "steal": fraction or None}`` since ``start()``."""
        stat, cpu = proc_stat(), own_cpu_seconds()
        if stat is None or self._stat is None or stat[1] <= self._stat[1]:
            return {"others": None, "steal": None}
        busy, total, steal = (a - b for a, b in zip(stat, self._stat))
        own = (cpu - self._cpu) * self._hz
        return {"others": round(min(1.0, max(0.0, (busy - own) / total)), 4),
                "steal": round(steal / total, 4)}


def is_loaded(others: float | None, flag: float = LOAD_FLAG) -> bool:
    """Whether other processes' share ``others`` (``None``: unknown) is above ``flag``."""
    return others is not None and others > flag


def wait_for_quiet(max_seconds: float, window: float = 0.5, flag: float = LOAD_FLAG) -> float:
    """Sleep until other processes use at most ``flag`` of the CPUs over a ``window``.

    Parameters
    ----------
    max_seconds : float
        Give up waiting after this long.
    window : float, default 0.5
        Seconds each load measurement spans.
    flag : float, default LOAD_FLAG
        The share of the CPUs other processes may use.

    Returns
    -------
    float
        The seconds waited.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < max_seconds:
        probe = LoadProbe().start()
        time.sleep(window)
        if not is_loaded(probe.stop()["others"], flag):
            break
    return time.perf_counter() - start


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or ``None`` where the OS has none."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


# --------------------------------------------------------------- machine
def _cpu_model() -> str:
    return cpuinfo("model name") or platform.processor() or platform.machine()


def machine_info() -> dict:
    """What the benchmark records about the machine.

    Returns
    -------
    dict
        ``cpu`` (model), ``cores`` (usable), ``cpu_quota`` (cgroup),
        ``cpu_flags`` (vector instructions), ``free_now`` (what the
        default-threads rule sees now), ``python``, ``platform`` and
        ``environment`` (the BLAS-related variables that are set).
    """

    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                      "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY",
                                      "BACKPROPLAB_BLAS")
           if k in os.environ}
    return {"cpu": _cpu_model(), "cores": usable_cpus(), "cpu_quota": cgroup_cpu_quota(),
            "cpu_flags": cpu_flags(), "free_now": machine_facts().to_dict(),
            "python": platform.python_version(), "platform": platform.platform(),
            "environment": env}


def cpu_flags() -> list[str]:
    """The vector instruction sets the CPU has (``avx2``, ``avx512f``...), from /proc/cpuinfo."""
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "neon", "sve")
    have = set((cpuinfo("flags") or cpuinfo("Features") or "").split())  # x86, ARM
    return [f for f in wanted if f in have]


#: A loop that keeps one core busy until its parent (the benchmark) is gone.
_BUSY_LOOP = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    pass\n"


class BusyLoad:
    """``with BusyLoad(n):`` runs ``n`` processes that keep one core busy each (a pure
    Python loop), the competing load of the busy-machine target; ended on exit."""

    def __init__(self, n: int):
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> BusyLoad:  # noqa: PYI034
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", _BUSY_LOOP],
                                               stdin=subprocess.DEVNULL))
        if self.n:
            time.sleep(0.5)  # running before anything is measured
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()
        self.procs = []


def child_json(args: list[str], *, threads: int | None = None, env: dict | None = None,
               input: str | None = None, timeout: float = 900) -> dict:
    """Run ``python ARGS`` in a fresh process and read the JSON object it prints last.

    A fresh process per measurement keeps one measurement's peak memory, loaded
    libraries and thread pools out of the next.

    Parameters
    ----------
    args : list of str
        The arguments after ``python`` (a script and its options, or ``-c CODE``).
    threads : int or None, default None
        Sets the child's ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
        ``MKL_NUM_THREADS`` and ``BLIS_NUM_THREADS``; ``None`` leaves them.
    env : dict or None, default None
        More environment variables of the child (on top of this process's).
    input : str or None, default None
        The child's stdin.
    timeout : float, default 900
        Seconds the child may take.

    Returns
    -------
    dict
        The child's last stdout line, parsed; ``{"error": ...}`` (the exit
        status and the last line of its stderr, or the timeout) where it failed.

    Examples
    --------
    >>> child_json(["-c", "print('{\\"n\\": 1}')"])
    {'n': 1}
    """
    child_env = dict(os.environ, **(env or {}))
    if threads is not None:
        child_env.update({var: str(threads) for var in _THREAD_VARS})
    try:
        proc = subprocess.run([sys.executable, *args], input=input, capture_output=True,
                              text=True, timeout=timeout, env=child_env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit status {proc.returncode}: {tail[0]}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_line(machine: dict) -> str:
    """``machine: CPU (vector flags), N usable cores[, cgroup quota Q CPUs]``.

    Parameters
    ----------
    machine : dict
        What :func:`machine_info` returns.

    Returns
    -------
    str

    Examples
    --------
    >>> machine_line({"cpu": "Some CPU", "cpu_flags": ["avx2"], "cores": 2, "cpu_quota": 1.5})
    'machine: Some CPU (avx2), 2 usable cores, cgroup quota 1.5 CPUs'
    """
    quota = machine.get("cpu_quota")
    return (f"machine: {machine['cpu']} ({', '.join(machine.get('cpu_flags') or []) or '?'}), "
            f"{machine['cores']} usable cores" + (f", cgroup quota {quota:g} CPUs" if quota else ""))


def library_versions(impls) -> dict:
    """Versions of the libraries the implementations ``impls`` use."""

    out = {"backproplab": __version__, "numpy": np.__version__}
    mods = {module_for(i) for i in impls}
    if "torch" in mods:
        import torch

        out["torch"] = torch.__version__
    if "sklearn" in mods:
        import sklearn

        out["scikit-learn"] = sklearn.__version__
    try:
        import threadpoolctl

        out["threadpoolctl"] = threadpoolctl.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    return out


def thread_info(impls) -> dict:
    """Thread pools as threadpoolctl sees them, direct BLAS, the step's kernels, and
    torch's thread count."""
    from threadpoolctl import threadpool_info

    pools = [{k: i.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                    "num_threads", "architecture", "filepath")}
             for i in threadpool_info()]
    out = {"pools": pools, "direct_blas": blas.info(), "kernels": kernels.selected()}
    if "torch" in impls:
        import torch

        out["torch"] = torch.get_num_threads()
    return out


# ------------------------------------------------------------ matmul peak
def matmul_peak(n: int = 2048, repeats: int = 5, device: str = "cpu") -> dict:
    """The best GFLOP/s of an ``n x n`` float32 matrix product (NumPy, or CuPy on the GPU).

    Parameters
    ----------
    n : int, default 2048
        The matrices' size.
    repeats : int, default 5
        Products timed; the fastest counts.
    device : {"cpu", "gpu"}, default "cpu"
        Where the product runs.

    Returns
    -------
    dict
        ``n``, ``library`` (``"numpy"`` or ``"cupy"``), ``seconds`` (the
        fastest product) and ``gflops`` (``2 n**3`` operations over it).
    """

    xp = get_array_module(device)
    rng = np.random.default_rng(0)
    a = xp.asarray(rng.random((n, n), dtype=np.float32))
    b = xp.asarray(rng.random((n, n), dtype=np.float32))
    c = xp.empty((n, n), dtype=np.float32)

    def sync():
        if xp is not np:
            xp.cuda.Device().synchronize()

    return _best_product(lambda: xp.matmul(a, b, out=c), sync, n, repeats,
                         "cupy" if xp is not np else "numpy")


def torch_matmul_peak(n: int = 2048, repeats: int = 5, device: str = "cpu") -> dict:
    """The same product with PyTorch (its own BLAS), for comparison."""
    import torch

    dev = torch.device("cuda" if device == "gpu" else "cpu")
    a = torch.rand(n, n, device=dev)
    b = torch.rand(n, n, device=dev)
    c = torch.empty(n, n, device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    return _best_product(lambda: torch.matmul(a, b, out=c), sync, n, repeats, "torch")


def _best_product(product: Callable[[], object], sync: Callable[[], None], n: int,
                  repeats: int, library: str) -> dict:
    """Time ``product()`` (an ``n x n`` matrix product) ``repeats`` times after one
    untimed call; the best time and its GFLOP/s."""
    product()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product()
        sync()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"n": n, "library": library, "seconds": best,
            "gflops": round(2.0 * n ** 3 / best / 1e9, 2)}


class MatmulPeak:
    """The best matmul peak seen so far, per library (NumPy or CuPy, and torch).

    ``measure()`` is called several times during a run: a busy moment can only
    make a product slower, so the best measurement is the machine's peak.
    """

    def __init__(self, size: int, device: str, with_torch: bool):
        self.size, self.device, self.with_torch = size, device, with_torch
        self.best: dict[str, dict] = {}

    def measure(self) -> None:
        """Measure every library once more, keeping each one's best."""
        got = {"numpy" if self.device == "cpu" else "cupy":
               matmul_peak(self.size, device=self.device)}
        if self.with_torch:
            got["torch"] = torch_matmul_peak(self.size, device=self.device)
        for lib, m in got.items():
            if lib not in self.best or m["gflops"] > self.best[lib]["gflops"]:
                self.best[lib] = m

    @property
    def gflops(self) -> float:
        """The best GFLOP/s of any library."""
        return max(p["gflops"] for p in self.best.values())
