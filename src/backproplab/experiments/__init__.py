"""Experiments: presets for every part of the study, sweeps over seeds and
hyperparameters, executors, aggregation, figures and the report.

Everything here builds on :mod:`backproplab.training` (one run = one run folder)
and only *reads* run folders to aggregate and plot them.
"""
