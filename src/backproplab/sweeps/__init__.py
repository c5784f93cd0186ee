"""Sweeps: many training runs over seeds x hyperparameters, in parallel, resumable.

Generic machinery that knows nothing of the study: a grid of configs and seeds
(:mod:`~backproplab.sweeps.spec`) becomes trials, which executors run on local
processes or a Ray cluster (:mod:`~backproplab.sweeps.executors`,
:mod:`~backproplab.sweeps.ray_executor`); the one driver
(:mod:`~backproplab.sweeps.driver`) records them, and aggregation
(:mod:`~backproplab.sweeps.aggregate`) reports mean +- std over seeds.
"""

from backproplab.sweeps.aggregate import aggregate_sweep
from backproplab.sweeps.driver import SweepOutcome, make_executor, run_sweep, run_trials
from backproplab.sweeps.executors import LocalExecutor
from backproplab.sweeps.spec import Sweep
from backproplab.sweeps.trials import Executor, Trial, TrialResult

__all__ = ["Executor", "LocalExecutor", "Sweep", "SweepOutcome", "Trial", "TrialResult",
           "aggregate_sweep", "make_executor", "run_sweep", "run_trials"]
