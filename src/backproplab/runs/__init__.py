"""The run folder and the sweep folder: every file name, and the one reader.

A *run folder* is what one training run writes (``backproplab train --out``, or
one trial of a sweep); a *sweep folder* holds a sweep's trial folders and its
aggregated results. The names of all their files are defined here and nowhere
else. :class:`RunFolder` is the one way to read a run folder: figures,
aggregation, plots, the report, sweeps and executors all use it. Readers never
write; the training code (:mod:`backproplab.training.run`) writes, every file
atomically (:mod:`backproplab.fileio`), so a reader never sees half a file.

Layout of a run folder::

    config.json      the resolved TrainConfig (written first)
    metrics.jsonl    one line per epoch
    batches.jsonl    one line per training step (epoch, step, loss)
    checkpoint.npz   model + optimizer + history after the last finished epoch
    best.npz         early stopping's best weights (with --restore-best)
    model.npz        the trained model (written at the end)
    summary.json     final metrics (written last: its presence means "finished")
    loss.png         the run's loss plot
    inspect.npz      with --inspect: snapshots at init and after every epoch
                     (training/snapshots.py)
    inspect_*.png    the inspection figures, and inspect_boundary.gif (backproplab plot)
    tensorboard/     with --tensorboard: TensorBoard event files, written as the run goes
                     (training/board.py)
    status.json      a sweep's record of the trial (ok / failed, seconds)
    error.txt        a failed trial's traceback
    .lock            held (``flock``) by the one process writing the folder

A run folder, a sweep folder and a reproduce folder each have one writer at a
time: :func:`backproplab.locks.lock_folder` takes an OS lock on the folder's
``.lock`` file (:data:`LOCK`); readers never take it and ignore the file.
"""

from backproplab.runs.folder import RunFolder, read_run_files, rewrite_summary, write_run_files
from backproplab.runs.logs import RERUN_FIX, DamagedFile, RunLog, read_log, resume_logs
from backproplab.runs.names import (
    ACTIVATIONS_FIGURE,
    BATCHES,
    BEST,
    BOUNDARY_ANIMATION,
    BOUNDARY_FIGURE,
    CHECKPOINT,
    COMPARE_FIGURE,
    CONFIG,
    CONFUSION_FIGURE,
    ERROR,
    ERRORS_FIGURE,
    EXAMPLES_FIGURE,
    INSPECT,
    INSPECT_FIGURES,
    LOCK,
    METRICS,
    MODEL,
    PLOT,
    RESULTS,
    RESULTS_BATCHES_CSV,
    RESULTS_CSV,
    RUN_FILES,
    RUN_FOLDERS,
    STATUS,
    SUMMARY,
    SWEEP,
    SWEEP_FIGURE,
    SWEEP_OUTPUT_FILES,
    TENSORBOARD,
    TRIAL_RECORD_FILES,
    WEIGHTS_FIGURE,
    check_out_folder,
    inside,
    is_bookkeeping,
    is_temporary,
)
from backproplab.runs.sweep import GridPoint, SweepFolder, open_folder

__all__ = [
    "ACTIVATIONS_FIGURE",
    "BATCHES",
    "BEST",
    "BOUNDARY_ANIMATION",
    "BOUNDARY_FIGURE",
    "CHECKPOINT",
    "COMPARE_FIGURE",
    "CONFIG",
    "CONFUSION_FIGURE",
    "ERROR",
    "ERRORS_FIGURE",
    "EXAMPLES_FIGURE",
    "INSPECT",
    "INSPECT_FIGURES",
    "LOCK",
    "METRICS",
    "MODEL",
    "PLOT",
    "RERUN_FIX",
    "RESULTS",
    "RESULTS_BATCHES_CSV",
    "RESULTS_CSV",
    "RUN_FILES",
    "RUN_FOLDERS",
    "STATUS",
    "SUMMARY",
    "SWEEP",
    "SWEEP_FIGURE",
    "SWEEP_OUTPUT_FILES",
    "TENSORBOARD",
    "TRIAL_RECORD_FILES",
    "WEIGHTS_FIGURE",
    "DamagedFile",
    "GridPoint",
    "RunFolder",
    "RunLog",
    "SweepFolder",
    "check_out_folder",
    "inside",
    "is_bookkeeping",
    "is_temporary",
    "open_folder",
    "read_log",
    "read_run_files",
    "resume_logs",
    "rewrite_summary",
    "write_run_files",
]
