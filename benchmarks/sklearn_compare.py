"""backproplab's MLPClassifier side by side with scikit-learn's, on Fashion-MNIST.

Both estimators get the same data (Debian's Fashion-MNIST through
``backproplab.data.load_dataset``: the 60,000 training images, pixels scaled to
[0, 1] with the training set's statistics, and the canonical 10,000 test
images), the same architecture (one hidden layer of 100 ReLU units, softmax
output), the same solver and hyperparameters (scikit-learn's defaults: batch
200, alpha 1e-4; Adam at 1e-3, or SGD with Nesterov momentum 0.9 at 0.01), the
same number of epochs (``tol=0`` and ``n_iter_no_change=max_iter``, so neither
stops early), the same dtype (float32, which both keep) and the same number of
BLAS threads. For each solver and seed it reports the test accuracy and the
mean seconds per epoch (``fit`` time / ``n_iter_``), then the mean over seeds,
the accuracy difference and the epoch-time ratio (scikit-learn / backproplab).

The machine's load average is recorded before and after (:func:`backproplab.bench.probes.loadavg`):
epoch times are only comparable on a quiet machine. Usage::

    python benchmarks/sklearn_compare.py [--epochs 10] [--seeds 2] [--solvers adam,sgd]
        [--threads 1] [--limit N] [--out benchmarks/results/sklearn_compare.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np

from backproplab.bench.probes import loadavg, machine_info

#: Per-solver settings, identical for both libraries.
SOLVERS = {
    "adam": {"solver": "adam", "learning_rate_init": 0.001},
    "sgd": {"solver": "sgd", "learning_rate_init": 0.01, "momentum": 0.9,
            "nesterovs_momentum": True},
}


def _fit_and_score(cls, params: dict, data) -> dict:
    X_train, y_train, X_test, y_test = data
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the point here
        t0 = time.perf_counter()
        est.fit(X_train, y_train)
        seconds = time.perf_counter() - t0
    return {"accuracy": float(est.score(X_test, y_test)), "fit_seconds": seconds,
            "epochs": int(est.n_iter_), "epoch_seconds": seconds / est.n_iter_,
            "final_loss": float(est.loss_curve_[-1])}


def run(epochs: int, seeds: int, solvers: list[str], threads: int, hidden: int,
        limit: int | None, data_dir: str | None) -> dict:
    """Train both estimators for every solver and seed; returns the results as a dict."""
    import sklearn
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from backproplab.data import load_dataset
    from backproplab.sklearn import MLPClassifier as OurMLP

    ds = load_dataset("fashion-mnist", final=True, limit=limit, data_dir=data_dir,
                      dtype=np.float32)
    data = (ds.X_train, ds.y_train, ds.X_eval, ds.y_eval)
    result = {
        "dataset": "fashion-mnist", "n_train": len(ds.X_train), "n_test": len(ds.X_eval),
        "eval_split": ds.eval_split, "hidden": [hidden], "activation": "relu",
        "epochs": epochs, "seeds": list(range(seeds)), "threads": threads, "dtype": "float32",
        "batch_size": 200, "alpha": 1e-4,
        "numpy": np.__version__, "scikit_learn": sklearn.__version__,
        "machine": machine_info(), "load_before": loadavg(), "solvers": {},
    }
    for solver in solvers:
        rows = []
        for seed in range(seeds):
            params = {"hidden_layer_sizes": (hidden,), "activation": "relu", "alpha": 1e-4,
                      "batch_size": 200, "max_iter": epochs, "tol": 0.0,
                      "n_iter_no_change": epochs, "random_state": seed, **SOLVERS[solver]}
            with threadpool_limits(limits=threads):
                ours = _fit_and_score(OurMLP, params, data)
                theirs = _fit_and_score(SkMLP, params, data)
            rows.append({"seed": seed, "backproplab": ours, "scikit_learn": theirs})
            print(f"  {solver} seed {seed}: backproplab {ours['accuracy']:.4f} "
                  f"({ours['epoch_seconds']:.2f} s/epoch), scikit-learn "
                  f"{theirs['accuracy']:.4f} ({theirs['epoch_seconds']:.2f} s/epoch)",
                  file=sys.stderr, flush=True)
        summary = {}
        for lib in ("backproplab", "scikit_learn"):
            acc = [r[lib]["accuracy"] for r in rows]
            sec = [r[lib]["epoch_seconds"] for r in rows]
            summary[lib] = {"accuracy_mean": statistics.fmean(acc),
                            "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                            "epoch_seconds_mean": statistics.fmean(sec)}
        summary["accuracy_difference_points"] = 100 * (
            summary["backproplab"]["accuracy_mean"] - summary["scikit_learn"]["accuracy_mean"])
        summary["epoch_time_ratio"] = (summary["scikit_learn"]["epoch_seconds_mean"]
                                       / summary["backproplab"]["epoch_seconds_mean"])
        result["solvers"][solver] = {"runs": rows, "summary": summary,
                                     "settings": SOLVERS[solver]}
    result["load_after"] = loadavg()
    return result


def table(result: dict) -> str:
    """The comparison as a plain-text table."""
    lines = [(f"Fashion-MNIST, {result['n_train']} train / {result['n_test']} test, "
              f"784-{result['hidden'][0]}-10 ReLU, batch 200, alpha 1e-4, {result['epochs']} "
              f"epochs, seeds {result['seeds']}, {result['threads']} BLAS thread(s), float32"),
             (f"load average before {result['load_before'][0]:.2f}, after "
              f"{result['load_after'][0]:.2f} ({result['machine']['cpu']}, "
              f"{result['machine']['cores']} cores)"),
             "",
             f"{'solver':<6} {'library':<13} {'test accuracy':>16} {'s/epoch':>8}",
             "-" * 47]
    for solver, block in result["solvers"].items():
        s = block["summary"]
        for lib, name in (("backproplab", "backproplab"), ("scikit_learn", "scikit-learn")):
            acc = f"{s[lib]['accuracy_mean']:.4f} +- {s[lib]['accuracy_std']:.4f}"
            lines.append(f"{solver:<6} {name:<13} {acc:>16} {s[lib]['epoch_seconds_mean']:>8.2f}")
        lines.append(f"{'':<6} {'difference':<13} {s['accuracy_difference_points']:>+13.2f} pp "
                     f"{'x' + format(s['epoch_time_ratio'], '.2f'):>8}  (scikit-learn time / "
                     "backproplab time)")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Parse the options, run, print the table, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--solvers", default="adam,sgd")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads for both (default 1)")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--limit", type=int, default=None, help="first N training images only")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="benchmarks/results/sklearn_compare.json")
    args = p.parse_args(argv)
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = [s for s in solvers if s not in SOLVERS]
    if unknown or args.epochs < 1 or args.seeds < 1 or args.threads < 1:
        p.error(f"--solvers must list {', '.join(SOLVERS)}; --epochs, --seeds and --threads "
                "must be >= 1")
    from backproplab.fileio import atomic_write_json

    result = run(args.epochs, args.seeds, solvers, args.threads, args.hidden, args.limit,
                 args.data_dir)
    print(table(result))
    path = atomic_write_json(args.out, result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
