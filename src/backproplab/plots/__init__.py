"""Figures made from run folders (they only read files; they never train).

- :mod:`~backproplab.plots.figure`: a new figure, its title, the PNG on disk;
- :mod:`~backproplab.plots.curves`: smoothing (EMA) and mean +- std across runs;
- :mod:`~backproplab.plots.panels`: the panels every figure of runs shares
  (per-batch loss, training vs evaluation, learning rate);
- :mod:`~backproplab.plots.run`: one run's ``loss.png``;
- :mod:`~backproplab.plots.sweeps`: many runs at once (a sweep's ``sweep.png``,
  ``backproplab compare``'s figure), drawn from aggregated groups.

The study's figures (:mod:`backproplab.study.figures`) and the inspection
figures (:mod:`backproplab.inspection`) are drawn with these.
"""

from backproplab.plots.curves import MAX_RAW_POINTS, ema, ema_beta, mean_band
from backproplab.plots.figure import describe_config, new_figure, save_figure
from backproplab.plots.panels import batch_loss_panel, rate_axis, train_eval_panel
from backproplab.plots.run import plot_run
from backproplab.plots.sweeps import plot_groups, plot_sweep

__all__ = ["MAX_RAW_POINTS", "batch_loss_panel", "describe_config", "ema", "ema_beta",
           "mean_band", "new_figure", "plot_groups", "plot_run", "plot_sweep", "rate_axis",
           "save_figure", "train_eval_panel"]
