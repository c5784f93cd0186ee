"""Training: the config of a run, the training loop, run folders, resume, progress.

- :class:`TrainConfig`: every option of a run with its default, validated.
- :func:`fit`: the training loop for the Python API, for either engine's model
  (the scalar engine's with :class:`ScalarSGD`); returns a :class:`History` of
  per-epoch records. Both engines run one epoch loop (``training/epochs.py``).
- :func:`run_training`: a whole run written into a run folder (config, metrics,
  checkpoints, model, summary), resumable bit-identically after a crash.
- :func:`make_schedule` / :class:`EarlyStopping`: learning-rate schedules and
  early stopping for :func:`fit`, with either engine (``run_training`` builds them
  from the config).
- :func:`settings` / :func:`check_settings_apply` (``training/options.py``): the
  options as data (type, default, help, choices) and the rule that refuses a
  setting the run would ignore (``momentum`` with ``optimizer='sgd'``).

Example::

    from backproplab.training import TrainConfig, run_training
    summary = run_training(TrainConfig(dataset="synth", hidden=(16,), lr=0.1,
    batch_size=16, epochs=3), "runs/synth16")
    summary["eval_accuracy"]
"""

from backproplab.training.config import FULL_BATCH, TrainConfig, engine_defaults
from backproplab.training.early_stopping import MONITORS, EarlyStopping
from backproplab.training.epochs import History
from backproplab.training.loop import fit
from backproplab.training.options import Setting, check_settings_apply, settings
from backproplab.training.progress import Progress, make_progress
from backproplab.training.run import (
    SUMMARY_KEYS,
    default_run_dir,
    load_run_dataset,
    run_training,
)
from backproplab.training.scalar_loop import ScalarSGD
from backproplab.training.schedules import SCHEDULES, Schedule, make_schedule

__all__ = [
    "FULL_BATCH",
    "MONITORS",
    "SCHEDULES",
    "SUMMARY_KEYS",
    "EarlyStopping",
    "History",
    "Progress",
    "ScalarSGD",
    "Schedule",
    "Setting",
    "TrainConfig",
    "check_settings_apply",
    "default_run_dir",
    "engine_defaults",
    "fit",
    "load_run_dataset",
    "make_progress",
    "make_schedule",
    "run_training",
    "settings",
]
